import { normalizeNftListing, nftTableBlock, ownedIptablesLines, type NftTableRead, type OwnedRulesetReader } from '../kernel/netfilter-state';
import type { FakeIptables, FakeNftables } from './netfilter';

/**
 * Reads the netfilter fakes back the way CommandRulesetReader reads the kernel, through the same
 * extraction functions. Counters are not modelled by the fakes: a test sets them per table and rule
 * line (`counters`), as the kernel's listing would show them.
 */
export class FakeRulesetReader implements OwnedRulesetReader {
  /** Per table: packets per counted rule line (as the normalized listing has it). */
  readonly counters = new Map<string, Map<string, number>>();
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

  /** The kernel's count for one rule line of a table (as the normalized listing has it). */
  count(table: string, line: string, packets: number): void {
    const t = this.counters.get(table) ?? new Map<string, number>();
    t.set(line, packets);
    this.counters.set(table, t);
  }

  async nftTable(name: string): Promise<NftTableRead> {
    this.check();
    const text = normalizeNftListing(nftTableBlock(this.tables.nft?.dump() ?? '', 'inet', name));
    // A table that is gone counts nothing; one written again starts from zero only if the test says so.
    const kept = new Map([...(this.counters.get(name) ?? [])].filter(([line]) => text.split('\n').includes(line)));
    const counters = text === '' ? new Map<string, number>() : kept;
    return { text, packets: [...counters.values()].reduce((a, b) => a + b, 0), counters };
  }

  private check(): void {
    if (this.failWith) throw this.failWith;
  }
}
