import { ErrorCodes, GatewayError, kernelError } from '../errors';
import { runCommand } from './exec';
import type { IptablesVariant, Runner } from './netfilter';

/**
 * Reads back what the gateway owns in netfilter, as text: two reads are equal exactly when the owned
 * rules are. The daemon compares reads to notice when someone changed them (docs/design.md, the
 * setup guard). Counters and comments are left out, so traffic alone never makes two reads differ.
 */
export interface OwnedRulesetReader {
  /**
   * In one family's iptables tables: the owned chains, their rules, and every rule of another
   * chain that jumps into one of them (in the order iptables-save lists them); '' when none exists.
   */
  iptables(family: 'ipv4' | 'ipv6'): Promise<string>;
  /**
   * `nft list table inet <name>` without counter values ('' when the table does not exist), and the
   * packets its `counter` statements have counted, summed (0 then).
   */
  nftTable(name: string): Promise<NftTableRead>;
}

export interface NftTableRead {
  readonly text: string;
  readonly packets: number;
}

/**
 * The owned part of iptables-save output. Table headers are kept for tables that hold owned lines,
 * chain declarations lose their counters, and every other line (foreign chains and rules, comments,
 * COMMIT) is dropped.
 */
export function ownedIptablesLines(save: string, ownedChains: readonly string[]): string {
  const owned = new Set(ownedChains);
  const out: string[] = [];
  let table = '';
  let tableShown = false;
  for (const raw of save.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      table = line;
      tableShown = false;
      continue;
    }
    let kept: string | undefined;
    const decl = /^:(\S+)\s+(\S+)/.exec(line);
    if (decl) {
      if (owned.has(decl[1] ?? '')) kept = `:${decl[1]} ${decl[2]}`;
    } else if (line.startsWith('-A ')) {
      const chain = line.split(/\s+/)[1] ?? '';
      const target = /(?:^|\s)-[jg]\s+(\S+)/.exec(line)?.[1];
      if (owned.has(chain) || (target !== undefined && owned.has(target))) kept = line.split(/\s+/).join(' ');
    }
    if (kept === undefined) continue;
    if (!tableShown) {
      out.push(table);
      tableShown = true;
    }
    out.push(kept);
  }
  return out.length > 0 ? `${out.join('\n')}\n` : '';
}

/** An nft listing without counter values, handles and blank lines, one statement per line, trimmed. */
export function normalizeNftListing(listing: string): string {
  const lines = listing
    .split('\n')
    .map((l) => l.replace(/\s+#\s*handle\s+\d+/, '').replace(/counter packets \d+ bytes \d+/g, 'counter').trim())
    .filter((l) => l !== '');
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** The sum of `counter packets N` in an nft listing. */
export function nftCounterPackets(listing: string): number {
  let sum = 0;
  for (const m of listing.matchAll(/counter packets (\d+)/g)) sum += Number(m[1]);
  return sum;
}

/** The table's block in `nft list ruleset` output (or '' when it is not there). */
export function nftTableBlock(ruleset: string, family: string, name: string): string {
  const lines = ruleset.split('\n');
  const start = lines.findIndex((l) => l.trim() === `table ${family} ${name} {`);
  if (start < 0) return '';
  let depth = 0;
  const out: string[] = [];
  for (let i = start; i < lines.length; i++) {
    const line = lines[i] ?? '';
    out.push(line);
    depth += (line.match(/\{/g) ?? []).length - (line.match(/\}/g) ?? []).length;
    if (depth === 0) break;
  }
  return `${out.join('\n')}\n`;
}

/** The real reader: iptables-<variant>-save and nft, run with an argument vector (never a shell). */
export class CommandRulesetReader implements OwnedRulesetReader {
  constructor(
    private readonly opts: { readonly variant?: IptablesVariant; readonly ownedChains: readonly string[]; readonly nftFamily: string },
    private readonly run: Runner = runCommand,
  ) {}

  async iptables(family: 'ipv4' | 'ipv6'): Promise<string> {
    const variant = this.opts.variant;
    if (variant === undefined) throw new GatewayError(ErrorCodes.INTERNAL, 'reading iptables rules without an iptables variant');
    const tool = `${family === 'ipv6' ? 'ip6' : 'ip'}tables-${variant}-save`;
    const res = await this.exec(tool, [], `reading the ${family} rules`);
    if (res.code !== 0) throw new GatewayError(ErrorCodes.KERNEL_OP_FAILED, `reading the ${family} rules with ${tool}: exit status ${res.code}: ${res.stderr.trim()}`);
    return ownedIptablesLines(res.stdout, this.opts.ownedChains);
  }

  async nftTable(name: string): Promise<NftTableRead> {
    const res = await this.exec('nft', ['list', 'table', this.opts.nftFamily, name], `reading nft table ${name}`);
    if (res.code === 0) return { text: normalizeNftListing(res.stdout), packets: nftCounterPackets(res.stdout) };
    if (/No such file or directory/i.test(res.stderr)) return { text: '', packets: 0 };
    throw new GatewayError(ErrorCodes.KERNEL_OP_FAILED, `reading nft table ${this.opts.nftFamily} ${name}: exit status ${res.code}: ${res.stderr.trim()}`);
  }

  private async exec(file: string, args: string[], doing: string): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      return await this.run(file, args);
    } catch (err) {
      throw kernelError(`${doing}: ${file} cannot be started`, err, ErrorCodes.BACKEND_UNAVAILABLE);
    }
  }
}
