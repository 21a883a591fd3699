import { normalizeNftListing, nftTableBlock, ownedIptablesLines, type NftTableRead, type OwnedRulesetReader } from '../kernel/netfilter-state';
import type { FakeIptables, FakeNftables } from './netfilter';

/**
 * Reads the netfilter fakes back the way CommandRulesetReader reads the kernel, through the same
 * extraction functions. Counters are not modelled by the fakes: a test sets `packets` per table.
 */
export class FakeRulesetReader implements OwnedRulesetReader {
  readonly packets = new Map<string, number>();
  /** Set to make every read fail with this error (a missing tool, a kernel refusing). */
  failWith: Error | undefined;

  constructor(
    private readonly tables: { readonly iptables?: FakeIptables; readonly nft?: FakeNftables },
    private readonly ownedChains: readonly string[],
  ) {}

  async iptables(family: 'ipv4' | 'ipv6'): Promise<string> {
    this.check();
    const dump = this.tables.iptables?.dump() ?? '';
    const [v4 = '', v6 = ''] = dump.split('# ip6tables\n');
    return ownedIptablesLines(family === 'ipv6' ? v6 : v4, this.ownedChains);
  }

  async nftTable(name: string): Promise<NftTableRead> {
    this.check();
    const text = normalizeNftListing(nftTableBlock(this.tables.nft?.dump() ?? '', 'inet', name));
    return { text, packets: text === '' ? 0 : (this.packets.get(name) ?? 0) };
  }

  private check(): void {
    if (this.failWith) throw this.failWith;
  }
}
