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
   * packets its `counter` statements have counted, summed (0 then) and per rule.
   */
  nftTable(name: string): Promise<NftTableRead>;
}

export interface NftTableRead {
  readonly text: string;
  readonly packets: number;
  /** Packets per counted rule, keyed by the rule's line as `text` holds it (packets of equal lines summed). */
  readonly counters: ReadonlyMap<string, number>;
}

/**
 * The owned part of iptables-save output: per table (tables in name order, whatever order the
 * variant lists them in), the owned chains' declarations without counters, then the rules of the
 * other chains that jump into them, then the owned chains' rules, as iptables-save orders them.
 * Every other line (foreign chains and rules, comments, COMMIT) is dropped.
 */
export function ownedIptablesLines(save: string, ownedChains: readonly string[]): string {
  const owned = new Set(ownedChains);
  const tables = new Map<string, string[]>();
  let table = '';
  for (const raw of save.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      table = line;
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
    const lines = tables.get(table) ?? [];
    lines.push(kept);
    tables.set(table, lines);
  }
  return [...tables.keys()]
    .sort()
    .map((t) => `${t}\n${(tables.get(t) ?? []).join('\n')}\n`)
    .join('');
}

/**
 * What ownedIptablesLines reads back once an iptables-restore --noflush payload of ours is applied:
 * `-I BUILTIN ... -j OWNED` jumps listed as `-A`, ahead of the owned chains' rules. Our payloads
 * are written in iptables-save's own form, so an intact ruleset reads back as exactly this.
 */
export function expectedIptablesLines(payload: string, ownedChains: readonly string[]): string {
  const owned = new Set(ownedChains);
  const out: string[] = [];
  let table = '';
  let decls: string[] = [];
  let jumps: string[] = [];
  let rules: string[] = [];
  const flush = (): void => {
    if (table !== '' && decls.length + jumps.length + rules.length > 0) out.push(`${table}\n${[...decls.sort(), ...jumps, ...rules].join('\n')}\n`);
    decls = [];
    jumps = [];
    rules = [];
  };
  for (const raw of payload.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      flush();
      table = line;
      continue;
    }
    const decl = /^:(\S+)\s+(\S+)/.exec(line);
    if (decl && owned.has(decl[1] ?? '')) decls.push(`:${decl[1]} ${decl[2]}`);
    const insert = /^-I\s+(\S+)(?:\s+\d+)?\s+(.*)$/.exec(line);
    if (insert) jumps.push(`-A ${insert[1]} ${(insert[2] ?? '').split(/\s+/).join(' ')}`);
    else if (line.startsWith('-A ')) rules.push(line.split(/\s+/).join(' '));
  }
  flush();
  return out.sort().join('');
}

/** What `nft list table` prints once an `nft -f` payload of ours (table, delete table, table { ... }) is applied, normalized. */
export function expectedNftListing(payload: string): string {
  const lines = payload.split('\n');
  const body = lines.findIndex((l) => /^table \S+ \S+ \{$/.test(l.trim()));
  return body < 0 ? '' : normalizeNftListing(lines.slice(body).join('\n'));
}

/** One line of an nft listing as normalizeNftListing keeps it. */
function normalizeNftLine(line: string): string {
  return line.replace(/\s+#\s*handle\s+\d+/, '').replace(/counter packets \d+ bytes \d+/g, 'counter').trim();
}

/** An nft listing without counter values, handles and blank lines, one statement per line, trimmed. */
export function normalizeNftListing(listing: string): string {
  const lines = listing
    .split('\n')
    .map(normalizeNftLine)
    .filter((l) => l !== '');
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** Packets per line that counts (`counter packets N`), keyed by the line normalized as normalizeNftListing does. */
export function nftLineCounters(listing: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of listing.split('\n')) {
    let packets = 0;
    let counted = false;
    for (const m of line.matchAll(/counter packets (\d+)/g)) {
      packets += Number(m[1]);
      counted = true;
    }
    if (!counted) continue;
    const key = normalizeNftLine(line);
    out.set(key, (out.get(key) ?? 0) + packets);
  }
  return out;
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
    if (res.code === 0) return { text: normalizeNftListing(res.stdout), packets: nftCounterPackets(res.stdout), counters: nftLineCounters(res.stdout) };
    if (/No such file or directory/i.test(res.stderr)) return { text: '', packets: 0, counters: new Map() };
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
