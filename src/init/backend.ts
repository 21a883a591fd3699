import type { Dataplane, IptablesVariant } from '../config/init-config';
import { runCommand } from '../kernel/exec';
import { detectIptablesVariant, type Runner } from '../kernel/netfilter';
import type { NetfilterBackend } from '../kernel/ports';
import { backendFor } from './plan';
import { OWNED } from './ruleset';

/**
 * Which netfilter backend the daemon holds init's ruleset with. DATAPLANE and IPTABLES_BACKEND win
 * when they are set (give both containers the same values); otherwise the daemon looks where init
 * wrote it, without changing anything: our nft table, else our chains in iptables-nft, else in
 * iptables-legacy. With nothing of ours anywhere (init did not run), init's own choice applies.
 */
export interface BackendSettings {
  /** DATAPLANE, when set. */
  readonly dataplane?: Dataplane;
  /** IPTABLES_BACKEND, when set. */
  readonly iptablesVariant?: IptablesVariant;
}

/** Where our rules are now; undefined when nowhere. Reads only (iptables-save without -t loads no table). */
export async function findOwnedBackend(run: Runner = runCommand, families: readonly ('ipv4' | 'ipv6')[] = ['ipv4']): Promise<NetfilterBackend | undefined> {
  const ok = async (file: string, args: string[], test: (out: string) => boolean): Promise<boolean> => {
    try {
      const res = await run(file, args);
      return res.code === 0 && test(res.stdout);
    } catch {
      return false;
    }
  };
  if (await ok('nft', ['list', 'table', OWNED.nftFamily, OWNED.nftTable], () => true)) return 'nftables';
  const holdsChain = (out: string): boolean => out.split('\n').some((l) => l.startsWith(`:${OWNED.natChain} `));
  for (const variant of ['nft', 'legacy'] as const) {
    for (const family of families) {
      if (await ok(`${family === 'ipv6' ? 'ip6' : 'ip'}tables-${variant}-save`, [], holdsChain)) return variant === 'nft' ? 'iptables-nft' : 'iptables-legacy';
    }
  }
  return undefined;
}

/** The decision, pure: the settings first, then what the kernel holds, then init's rule (`fallbackVariant`). */
export function chooseBackend(settings: BackendSettings, found: NetfilterBackend | undefined, fallbackVariant: IptablesVariant): NetfilterBackend {
  if (settings.dataplane === 'nftables') return 'nftables';
  if (settings.iptablesVariant) return backendFor({ dataplane: 'iptables' }, settings.iptablesVariant);
  if (found && (settings.dataplane === undefined || found !== 'nftables')) return found;
  return backendFor({ dataplane: 'iptables' }, fallbackVariant);
}

export async function resolveDaemonBackend(
  settings: BackendSettings,
  families: readonly ('ipv4' | 'ipv6')[],
  run: Runner = runCommand,
): Promise<{ backend: NetfilterBackend; why: string }> {
  if (settings.dataplane === 'nftables' || settings.iptablesVariant) {
    return { backend: chooseBackend(settings, undefined, 'nft'), why: 'DATAPLANE / IPTABLES_BACKEND' };
  }
  const found = await findOwnedBackend(run, families);
  if (found && (settings.dataplane === undefined || found !== 'nftables')) return { backend: found, why: 'where init wrote the rules' };
  const choice = await detectIptablesVariant(run);
  return { backend: chooseBackend(settings, undefined, choice.variant), why: `none of our rules found; as init would: ${choice.why}` };
}
