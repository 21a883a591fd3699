import type { DaemonConfig } from '../daemon-config';
import type { Component } from '../lifecycle';
import { IptablesRestoreNetfilter, NftNetfilter } from '../kernel/netfilter';
import { CommandRulesetReader, type OwnedRulesetReader } from '../kernel/netfilter-state';
import { NetlinkConntrackTable, type ConntrackTable } from '../kernel/netlink/conntrack-table';
import { NetlinkLinkWatch } from '../kernel/netlink/link-watch';
import { NetlinkNeighbourCache } from '../kernel/netlink/neighbour-cache';
import { NetlinkNetconfWatch } from '../kernel/netlink/netconf-watch';
import { NetlinkNftablesWatch, type RulesetWatch } from '../kernel/netlink/nftables-watch';
import type { LinkWatch, Links, NeighbourCache, Netfilter, NetfilterBackend, Sysctl, SysctlWatch } from '../kernel/ports';
import { ProcSysctl } from '../kernel/sysctl';
import type { Clock } from '../model/clock';
import type { Logger } from '../observability/logger';
import type { GatewayMetrics } from '../observability/metrics';
import { resolveDaemonBackend } from './backend';
import { planInit, type InitPlan } from './plan';
import { OWNED } from './ruleset';
import { SetupGuard, type SetupGuardStatus } from './setup-guard';
import type { DeviceLookup } from './stale-flows';

/**
 * The setup guard as a lifecycle component of the daemon, with the real kernel by default: which
 * backend holds init's rules (src/init/backend.ts), init's plan for it, the guard, and the kernel's
 * events that make it look at once (nf_tables changes, vxlan0's MTU, forwarding and rp_filter changes).
 */
export interface SetupDeps {
  readonly sysctl: Sysctl;
  netfilterFor(backend: NetfilterBackend): Netfilter;
  readerFor(backend: NetfilterBackend): OwnedRulesetReader;
  resolveBackend(config: DaemonConfig): Promise<{ backend: NetfilterBackend; why: string }>;
  /** nf_tables change events; absent: the ruleset is looked at on the timers only. */
  readonly rulesetWatch?: RulesetWatch;
  /** Link events, for vxlan0's MTU; absent: the MTU is read at each ruleset check only. */
  readonly linkWatch?: LinkWatch;
  /** Where the guard deletes the conntrack entries of connections tracked without SNAT; absent: left to expire. */
  readonly conntrack?: ConntrackTable;
  /** Route lookups that tell a client connection (from the tunnel, out of the underlay); needed with `conntrack`. */
  readonly routeLookup?: Pick<NeighbourCache, 'nextHop'> & { close?(): void };
  /** Netconf events (forwarding, rp_filter); absent or refused: the sysctls are read every quick interval. */
  readonly sysctlWatch?: SysctlWatch;
  readonly quickIntervalMs?: number;
}

export function realSetupDeps(): SetupDeps {
  return {
    sysctl: new ProcSysctl(),
    netfilterFor: (backend) => (backend === 'nftables' ? new NftNetfilter() : new IptablesRestoreNetfilter(backend === 'iptables-legacy' ? 'legacy' : 'nft')),
    readerFor: (backend) =>
      new CommandRulesetReader({
        ...(backend === 'nftables' ? {} : { variant: backend === 'iptables-legacy' ? 'legacy' : 'nft' }),
        ownedChains: [OWNED.natChain, OWNED.mangleChain],
        nftFamily: OWNED.nftFamily,
      }),
    resolveBackend: (config) =>
      resolveDaemonBackend(config, [...(config.egressIpv4 ? ['ipv4' as const] : []), ...(config.egressIpv6 ? ['ipv6' as const] : [])]),
    rulesetWatch: new NetlinkNftablesWatch(),
    linkWatch: new NetlinkLinkWatch(),
    conntrack: new NetlinkConntrackTable(),
    // Its socket is opened on the first lookup: only when stale connections are looked for.
    routeLookup: new NetlinkNeighbourCache(),
    sysctlWatch: new NetlinkNetconfWatch(),
  };
}

/** Init's plan for what the daemon was given (the same settings init read; its conntrack settings are the audit's). */
export function planForDaemon(config: DaemonConfig, backend: NetfilterBackend): InitPlan {
  const egressIp = config.egressIpv4 ?? config.egressIpv6;
  if (!egressIp) throw new Error('unreachable: the config always holds an egress address');
  return planInit(
    {
      egressIp,
      ...(config.egressIpv6 ? { egressIpv6: config.egressIpv6 } : {}),
      vni: config.vxlanVni,
      vxlanPort: config.vxlanPort,
      underlay: config.underlayDevice,
      conntrackAccounting: false,
    },
    backend,
  );
}

export interface SetupWiring {
  readonly config: DaemonConfig;
  readonly deps: SetupDeps;
  readonly links: Pick<Links, 'get'>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** The guard's problem, or none: readiness's `setup` check. */
  onProblem(problem: unknown): void;
  /** Called once the guard exists, before its first check (readiness then includes the check). */
  onAttached(): void;
}

export function setupGuardComponent(w: SetupWiring): Component & { status(): SetupGuardStatus | undefined } {
  let guard: SetupGuard | undefined;
  let lastMtu: number | undefined;
  const vxlan = w.config.vxlanDevice;
  return {
    name: 'setup-guard',
    status: () => guard?.status(),
    start: async () => {
      const { backend, why } = await w.deps.resolveBackend(w.config);
      w.logger.info({ component: 'setup-guard', event: 'setup_backend', backend, why }, `holding init's ruleset with ${backend} (${why})`);
      const netfilter = w.deps.netfilterFor(backend);
      const watchFailed = (what: string) => (err: Error) =>
        w.logger.warn({ component: 'setup-guard', event: 'setup_watch_failed', what, err }, `${what}: ${err.message}; the timers still check`);
      // Subscribed before the guard's first check, so that no change falls between its read and the subscription.
      let sysctlsWatched = false;
      if (w.deps.sysctlWatch) {
        try {
          w.deps.sysctlWatch.watch({ onChange: (what) => guard?.requestSysctlCheck(what), onError: watchFailed('netconf events') });
          sysctlsWatched = true;
        } catch (err) {
          watchFailed('netconf events (reading the sysctls every 2 s instead)')(err instanceof Error ? err : new Error(String(err)));
        }
      }
      guard = new SetupGuard({
        plan: planForDaemon(w.config, backend),
        links: w.links,
        sysctl: w.deps.sysctl,
        netfilter: { netfilter, ...(backend === 'nftables' ? {} : { failsafe: w.deps.netfilterFor('nftables') }) },
        reader: w.deps.readerFor(backend),
        clock: w.clock,
        logger: w.logger,
        metrics: w.metrics,
        ...(w.deps.conntrack && w.deps.routeLookup ? { staleFlows: { conntrack: w.deps.conntrack, deviceOf: deviceLookup(w.deps.routeLookup) } } : {}),
        fullIntervalMs: w.config.resyncIntervalMs,
        ...(w.deps.quickIntervalMs !== undefined ? { quickIntervalMs: w.deps.quickIntervalMs } : {}),
        // x_tables sends no change events: poll its rules.
        pollRules: backend === 'iptables-legacy',
        pollSysctls: !sysctlsWatched,
        // The message alone: readiness shows it as the reason, without the code in front.
        onProblem: (problem) => w.onProblem(problem?.message),
      });
      w.onAttached();
      const g = guard;
      try {
        w.deps.rulesetWatch?.watch({ onChange: () => g.requestCheck('nf_tables changed'), onError: watchFailed('nf_tables events') });
      } catch (err) {
        watchFailed('nf_tables events')(err instanceof Error ? err : new Error(String(err)));
      }
      try {
        w.deps.linkWatch?.watch({
          onLink: (link) => {
            if (link.name !== vxlan || link.mtu === undefined) return;
            const was = lastMtu;
            lastMtu = link.mtu;
            if (was !== undefined && was !== link.mtu) g.requestCheck(`${vxlan}'s MTU changed from ${was} to ${link.mtu}`);
          },
          onError: watchFailed('link events'),
        });
      } catch (err) {
        watchFailed('link events')(err instanceof Error ? err : new Error(String(err)));
      }
      await g.start();
    },
    stop: async () => {
      w.deps.rulesetWatch?.close();
      w.deps.linkWatch?.close();
      w.deps.sysctlWatch?.close();
      await guard?.stop();
      w.deps.routeLookup?.close?.();
    },
  };
}

/** The device the route to an address leaves through, by a route lookup. */
function deviceLookup(routes: Pick<NeighbourCache, 'nextHop'>): DeviceLookup {
  return async (ip) => (await routes.nextHop(ip.text))?.dev;
}
