import { ErrorCodes, GatewayError, kernelError } from '../errors';
import { runCommand, type CommandResult } from './exec';
import type { Netfilter, NetfilterBackend, RulesetFamily } from './ports';

/** How adapters start programs; tests pass a scripted one. Argument vectors only, never a shell. */
export type Runner = (file: string, args: readonly string[], options?: { input?: string }) => Promise<CommandResult>;

export type IptablesVariant = 'legacy' | 'nft';

/**
 * iptables through `iptables-<variant>-restore --noflush`: one restore is one atomic commit per
 * table (legacy swaps the table blob; nft sends one batch), and --noflush leaves every chain the
 * payload does not declare alone.
 *
 * iptables-restore cannot "insert unless present", so the jumps from built-in chains into owned
 * chains are written as `-I <CHAIN> ...` lines that this adapter drops when iptables-save already
 * lists the same rule: running init twice leaves one jump, not two.
 */
export class IptablesRestoreNetfilter implements Netfilter {
  readonly backend: NetfilterBackend;
  private readonly variantSuffix: string;

  constructor(
    readonly variant: IptablesVariant,
    private readonly run: Runner = runCommand,
  ) {
    this.backend = variant === 'legacy' ? 'iptables-legacy' : 'iptables-nft';
    this.variantSuffix = `tables-${variant}`;
  }

  /** `iptables-nft` for IPv4, `ip6tables-nft` for IPv6 (likewise legacy): each family has its own tools and tables. */
  private prefix(family: 'ipv4' | 'ipv6'): string {
    return `${family === 'ipv6' ? 'ip6' : 'ip'}${this.variantSuffix}`;
  }

  /**
   * Fails with BACKEND_UNAVAILABLE when the tools for the families are not installed; changes
   * nothing. ip6tables ships in the same package as iptables, but an image could still lack it.
   */
  async checkAvailable(families: readonly ('ipv4' | 'ipv6')[] = ['ipv4']): Promise<void> {
    for (const family of families) {
      await this.exec(`${this.prefix(family)}-restore`, ['--version'], 'checking that the iptables backend is installed');
    }
  }

  async apply(payload: string, family: RulesetFamily = 'ipv4'): Promise<void> {
    if (family === 'inet') {
      throw new GatewayError(ErrorCodes.INTERNAL, `an inet (nftables) ruleset cannot be applied with the ${this.backend} backend`);
    }
    const prefix = this.prefix(family);
    const saved = new Map<string, string>();
    for (const table of tablesOf(payload)) {
      const res = await this.exec(`${prefix}-save`, ['-t', table], `reading ${family} table ${table} before applying`);
      if (res.code !== 0) {
        throw new GatewayError(
          ErrorCodes.NETFILTER_APPLY_FAILED,
          `reading ${family} table ${table} with ${prefix}-save: exit status ${res.code}: ${res.stderr.trim()}`,
        );
      }
      saved.set(table, res.stdout);
    }
    const input = dropPresentInserts(payload, saved);
    // -w: wait for the xtables lock instead of failing when kube-proxy or Calico holds it.
    const res = await this.exec(`${prefix}-restore`, ['-w', '--noflush'], `applying the ruleset with ${prefix}-restore`, input);
    if (res.code !== 0) {
      throw new GatewayError(
        ErrorCodes.NETFILTER_APPLY_FAILED,
        `applying the ruleset with ${prefix}-restore --noflush: exit status ${res.code}, nothing applied: ${res.stderr.trim()}`,
      );
    }
  }

  private async exec(file: string, args: string[], doing: string, input?: string): Promise<CommandResult> {
    try {
      return await this.run(file, args, input === undefined ? {} : { input });
    } catch (err) {
      throw kernelError(`${doing}: ${file} cannot be started (backend ${this.backend})`, err, ErrorCodes.BACKEND_UNAVAILABLE);
    }
  }
}

/**
 * Native nftables: the payload is one `nft -f -` transaction, which the kernel commits whole or
 * not at all.
 */
export class NftNetfilter implements Netfilter {
  readonly backend: NetfilterBackend = 'nftables';

  constructor(private readonly run: Runner = runCommand) {}

  async checkAvailable(): Promise<void> {
    await this.exec(['--version'], 'checking that nft is installed');
  }

  async apply(payload: string, family: RulesetFamily = 'inet'): Promise<void> {
    if (family !== 'inet') {
      throw new GatewayError(ErrorCodes.INTERNAL, `an ${family} iptables ruleset cannot be applied with the nftables backend`);
    }
    const res = await this.exec(['-f', '-'], 'applying the ruleset with nft -f -', payload);
    if (res.code !== 0) {
      throw new GatewayError(
        ErrorCodes.NETFILTER_APPLY_FAILED,
        `applying the ruleset with nft -f -: exit status ${res.code}, nothing applied: ${res.stderr.trim()}`,
      );
    }
  }

  private async exec(args: string[], doing: string, input?: string): Promise<CommandResult> {
    try {
      return await this.run('nft', args, input === undefined ? {} : { input });
    } catch (err) {
      throw kernelError(`${doing}: nft cannot be started (backend nftables)`, err, ErrorCodes.BACKEND_UNAVAILABLE);
    }
  }
}

export interface VariantChoice {
  readonly variant: IptablesVariant;
  /** One line for the log: why this variant. */
  readonly why: string;
}

/**
 * Picks the iptables variant when IPTABLES_BACKEND is unset. Rules of both variants run in the
 * kernel side by side, so ours belong next to the ones already there: whichever variant holds more
 * rules wins. With none anywhere (a fresh pod namespace, the usual case) nft wins: it is what
 * current distributions and Calico default to, and iptables-nft also coexists with native nft.
 */
export async function detectIptablesVariant(run: Runner = runCommand): Promise<VariantChoice> {
  const legacy = await countRules(run, 'iptables-legacy-save');
  const nft = await countRules(run, 'iptables-nft-save');
  if (legacy !== undefined && (nft === undefined || legacy > nft)) {
    return { variant: 'legacy', why: `iptables-legacy holds ${legacy} rules, iptables-nft ${nft ?? 'is not installed'}` };
  }
  if (nft === undefined && legacy === undefined) return { variant: 'nft', why: 'neither iptables variant could be listed; defaulting to nft' };
  return { variant: 'nft', why: `iptables-nft holds ${nft ?? 0} rules, iptables-legacy ${legacy ?? 'is not installed'}; nft wins ties` };
}

async function countRules(run: Runner, file: string): Promise<number | undefined> {
  try {
    const res = await run(file, []);
    if (res.code !== 0) return undefined;
    return res.stdout.split('\n').filter((l) => l.startsWith('-A ')).length;
  } catch {
    return undefined;
  }
}

/** Table names declared in iptables-restore text (`*nat`, `*mangle`), in order. */
export function tablesOf(payload: string): string[] {
  return payload
    .split('\n')
    .filter((l) => l.startsWith('*'))
    .map((l) => l.slice(1).trim());
}

/**
 * Removes `-I CHAIN [n] spec` lines whose rule iptables-save (per table) already lists as
 * `-A CHAIN spec`. Shared with the fake so both behave the same.
 */
export function dropPresentInserts(payload: string, savedByTable: ReadonlyMap<string, string>): string {
  let table = '';
  const out: string[] = [];
  for (const line of payload.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    const insert = parseInsert(line);
    if (insert) {
      const present = (savedByTable.get(table) ?? '')
        .split('\n')
        .some((saved) => normalize(saved) === normalize(`-A ${insert.chain} ${insert.spec}`));
      if (present) continue;
    }
    out.push(line);
  }
  return out.join('\n');
}

function parseInsert(line: string): { chain: string; spec: string } | undefined {
  const m = /^-I\s+(\S+)(?:\s+\d+)?\s+(.*)$/.exec(line.trim());
  return m ? { chain: m[1] ?? '', spec: m[2] ?? '' } : undefined;
}

function normalize(rule: string): string {
  return rule.trim().split(/\s+/).join(' ');
}
