import { networkInterfaces } from 'node:os';
import pino from 'pino';
import { checkNamespace, namespaceInterfaces, namespaceSettings, type NamespaceInterfaces } from '../config/namespace-check';
import type { InitConfig, InitFlags } from '../config/init-config';
import { initConfigFrom } from './config';
import type { Env } from '../config/env';
import { NetlinkLinks } from '../kernel/links';
import { IptablesRestoreNetfilter, NftNetfilter, detectIptablesVariant, type VariantChoice } from '../kernel/netfilter';
import type { Links, Netfilter, NetfilterBackend, Sysctl } from '../kernel/ports';
import { ProcSysctl } from '../kernel/sysctl';
import { createLogger, type Logger } from '../observability/logger';
import { applyInit } from './apply';
import { VXLAN_DEVICE, backendFor, describePlan, planInit, vxlanOverheadBytes, type InitPlan } from './plan';

export type { InitFlags } from '../config/init-config';

/** Everything `init` touches outside its own logic; tests pass fakes. */
export interface InitDeps {
  readonly links: Links & { close?(): void };
  readonly sysctl: Sysctl;
  netfilterFor(backend: NetfilterBackend): Netfilter & { checkAvailable?(families?: readonly ('ipv4' | 'ipv6')[]): Promise<void> };
  detectIptablesVariant(): Promise<VariantChoice>;
  /** Where --dry-run prints the plan. */
  out(text: string): void;
  logger(config: InitConfig): Logger;
  /** The namespace's interfaces and addresses, to check the config against before any change; absent: not checked. */
  interfaces?(): NamespaceInterfaces;
}

export function realInitDeps(): InitDeps {
  return {
    links: new NetlinkLinks(),
    sysctl: new ProcSysctl(),
    netfilterFor: (backend) => (backend === 'nftables' ? new NftNetfilter() : new IptablesRestoreNetfilter(backend === 'iptables-legacy' ? 'legacy' : 'nft')),
    detectIptablesVariant: () => detectIptablesVariant(),
    out: (text) => process.stdout.write(text),
    // A dry run keeps stdout for the plan alone, so it can be piped or diffed.
    logger: (config) => createLogger(config.logLevel, pino.destination(config.dryRun ? 2 : 1)),
    interfaces: () => namespaceInterfaces(networkInterfaces()),
  };
}

/**
 * `egress-gateway init`: validate everything, pick the netfilter backend, then either print the
 * plan (--dry-run) or check the backend's tools exist and apply the plan. No kernel change happens
 * before the configuration and the tools have been checked.
 */
export async function runInitCommand(flags: InitFlags, env: Env, deps: InitDeps = realInitDeps()): Promise<void> {
  const config = initConfigFrom(env, flags);
  // A dry run may be read anywhere (it changes nothing); a real one must run in the pod it is for.
  if (!config.dryRun && deps.interfaces) {
    const egress = [config.egressIp, ...(config.egressIpv6 && config.egressIpv6.text !== config.egressIp.text ? [config.egressIpv6] : [])];
    checkNamespace(namespaceSettings(env, flags, { underlay: config.underlay, egress, healthServer: false }), deps.interfaces());
  }
  const logger = deps.logger(config);
  try {
    const backend = await chooseBackend(config, deps, logger);
    const plan = planInit(config, backend);
    const netfilter = deps.netfilterFor(backend);
    if (config.dryRun) {
      const { mtu, note } = await expectedVxlanMtu(deps.links, plan);
      deps.out(describePlan(plan, mtu, note));
      return;
    }
    await netfilter.checkAvailable?.([...(plan.egress.ipv4 ? ['ipv4' as const] : []), ...(plan.egress.ipv6 ? ['ipv6' as const] : [])]);
    // The fail-safe is an nft table whatever the dataplane (see renderFailsafe).
    const failsafe = backend === 'nftables' ? undefined : deps.netfilterFor('nftables');
    await failsafe?.checkAvailable?.();
    const outcome = await applyInit(plan, { links: deps.links, sysctl: deps.sysctl, netfilter, ...(failsafe ? { failsafe } : {}) }, logger);
    logger.info(
      {
        component: 'init',
        event: 'init_done',
        backend,
        vxlan: outcome.link.name,
        mtu: outcome.link.mtu,
        egressIp: config.egressIp.text,
        ...(config.egressIpv6 ? { egressIpv6: config.egressIpv6.text } : {}),
      },
      'gateway network namespace is ready',
    );
  } finally {
    deps.links.close?.();
  }
}

async function chooseBackend(config: InitConfig, deps: InitDeps, logger: Logger): Promise<NetfilterBackend> {
  if (config.dataplane === 'nftables' || config.iptablesVariant !== undefined) return backendFor(config, config.iptablesVariant ?? 'nft');
  const choice = await deps.detectIptablesVariant();
  logger.info({ component: 'init', event: 'iptables_backend_detected', variant: choice.variant, why: choice.why }, 'iptables backend detected');
  return backendFor(config, choice.variant);
}

/** What vxlan0's MTU will be, read without changing anything, for the dry run's MSS value. */
async function expectedVxlanMtu(links: Links, plan: InitPlan): Promise<{ mtu: number; note: string }> {
  const existing = await links.get(VXLAN_DEVICE);
  if (existing && existing.kind === 'vxlan' && plan.vxlan.mtu === undefined) return { mtu: existing.mtu, note: `${VXLAN_DEVICE} exists` };
  if (plan.vxlan.mtu !== undefined) return { mtu: plan.vxlan.mtu, note: 'configured' };
  const overhead = vxlanOverheadBytes(plan.egressIp.family);
  const parent = await links.get(plan.vxlan.parent);
  if (parent) return { mtu: parent.mtu - overhead, note: `${plan.vxlan.parent} mtu ${parent.mtu} - ${overhead}` };
  return { mtu: 1500 - overhead, note: `${plan.vxlan.parent} not found here, assuming mtu 1500 - ${overhead}` };
}
