import type { AgentConfig } from '../config/agent-config';
import type { CheckName, CheckReport, ReadinessReport } from '../health/readiness';
import { isoFrom, roundMs, type ToIso } from '../health/render';
import { ago, duration, fields, section, table } from '../status/render';
import { STATUS_FORMAT } from '../status/model';
import type { AgentSnapshot } from './agent';
import type { GatewaySignals } from './gateway-health/state';
import type { ClientReport } from './steering';

/** One signal of one gateway as `status` shows it: its state and when that last changed (ISO). */
export interface SignalView {
  readonly state: string;
  readonly since?: string;
  readonly detail?: string;
}

/**
 * What `egress-gateway status` shows for the agent, built from its in-memory state only: the steered
 * pods and the gateways each uses, every gateway it polls and why it is usable or not, the watches,
 * the route feed, and what the dataplane holds (its route tables) when it can tell. `role: 'agent'`
 * tells the status command which renderer to use; `format`, `ready` and `failing` are shared with the
 * gateway's document.
 */
export interface AgentStatusDocument {
  readonly format: typeof STATUS_FORMAT;
  readonly role: 'agent';
  readonly version: string;
  readonly pid: number;
  readonly phase: string;
  readonly now: string;
  readonly uptimeSeconds: number;
  readonly ready: boolean;
  readonly failing: readonly CheckName[];
  readonly checks: Readonly<Partial<Record<CheckName, { readonly ok: boolean; readonly reason: string }>>>;
  readonly node: { readonly name: string; readonly ipv4?: string; readonly ipv6?: string };
  /** One per steered pod of this node, as the planner reported it. */
  readonly clients: readonly ClientReport[];
  readonly gateways: readonly {
    readonly pod: string;
    readonly node: string;
    readonly ips: readonly string[];
    readonly ready: boolean;
    readonly deleting: boolean;
    readonly usable: boolean;
    /** Its established flows keep going to it (pinned): usable, draining, or lost within the grace. */
    readonly keepFlows: boolean;
    readonly reason: string;
    /** Which signal decided (kube, stream, echo, poll, address). */
    readonly decidedBy: string;
    /** Each signal's state and when it last changed (issue #16). */
    readonly signals: { readonly kube: SignalView; readonly stream?: SignalView; readonly echo?: SignalView; readonly poll?: SignalView };
    readonly poll?: { readonly url?: string; readonly state: string; readonly failures: number; readonly polls: number; readonly lastError?: string };
  }[];
  readonly watches: readonly { readonly name: string; readonly selector?: string; readonly synced: boolean; readonly lists: number; readonly events: number; readonly restarts: number; readonly lastError?: string }[];
  readonly steering: { readonly applied: boolean; readonly ok?: boolean; readonly at?: string; readonly durationMs?: number; readonly error?: string; readonly spec?: string };
  readonly routeFeed: {
    readonly socket: string;
    readonly localGateways: readonly string[];
    readonly inSync: boolean;
    readonly routes: number;
    readonly vteps: number;
    readonly skipped: readonly { readonly dst: string; readonly reason: string }[];
    readonly server?: unknown;
  };
  /** The dataplane's own status (route tables and what each holds), as it reports it. */
  readonly dataplane?: unknown;
  readonly config: { readonly gatewaySelector: string; readonly routeTables: string; readonly rulePriority: number; readonly vni: number; readonly vxlanPort: number; readonly healthPort: number; readonly statusSocket: string; readonly gatewayPoll: AgentConfig['gatewayPoll'] };
}

export function buildAgentStatus(i: {
  readonly version: string;
  readonly pid: number;
  readonly wallNow: number;
  /** The agent's clock now (the one the signals' times are on); default: performance.now(). */
  readonly clockNow?: number;
  readonly uptimeMs: number;
  readonly config: AgentConfig;
  readonly readiness: ReadinessReport;
  readonly snapshot: AgentSnapshot;
}): AgentStatusDocument {
  const s = i.snapshot;
  const checks: Partial<Record<CheckName, { ok: boolean; reason: string }>> = {};
  for (const [name, c] of Object.entries(i.readiness.checks) as [CheckName, CheckReport][]) checks[name] = { ok: c.ok, reason: c.reason };
  const c = i.config;
  const toIso = isoFrom(i.clockNow ?? performance.now(), i.wallNow);
  return {
    format: STATUS_FORMAT,
    role: 'agent',
    version: i.version,
    pid: i.pid,
    phase: s.phase,
    now: new Date(i.wallNow).toISOString(),
    uptimeSeconds: Math.max(0, Math.floor(i.uptimeMs / 1000)),
    ready: i.readiness.ready,
    failing: [...i.readiness.failing],
    checks,
    node: { name: c.nodeName, ...(s.node?.ipv4 ? { ipv4: s.node.ipv4.text } : {}), ...(s.node?.ipv6 ? { ipv6: s.node.ipv6.text } : {}) },
    clients: (s.plan?.clients ?? []).map((r) => ({ ...r, ips: [...r.ips], gateways: [...r.gateways] })),
    gateways: s.gateways.map((g) => ({
      pod: g.pod.key,
      node: g.pod.nodeName,
      ips: g.pod.ips.map((ip) => ip.text),
      ready: g.pod.ready,
      deleting: g.pod.deleting,
      usable: g.verdict.usable,
      keepFlows: g.verdict.keepFlows,
      reason: g.verdict.reason,
      decidedBy: g.verdict.decidedBy,
      signals: signalViews(g.pod, g.signals, toIso),
      ...(g.probe
        ? { poll: { ...(g.probe.url !== undefined ? { url: g.probe.url } : {}), state: g.probe.state, failures: g.probe.failures, polls: g.probe.polls, ...(g.probe.lastError !== undefined ? { lastError: g.probe.lastError } : {}) } }
        : {}),
    })),
    watches: s.watches.map((w) => ({
      name: w.name,
      ...(w.fieldSelector ?? w.labelSelector ? { selector: w.fieldSelector ?? w.labelSelector } : {}),
      synced: w.synced,
      lists: w.lists,
      events: w.events,
      restarts: w.restarts,
      ...(w.lastError !== undefined ? { lastError: w.lastError } : {}),
    })),
    steering: s.applied
      ? { applied: true, ok: s.applied.ok, at: new Date(s.applied.at).toISOString(), durationMs: Math.round(s.applied.durationMs * 10) / 10, ...(s.applied.error ? { error: s.applied.error } : {}), spec: s.applied.text }
      : { applied: false },
    routeFeed: {
      socket: c.policysyncSocket,
      localGateways: [...s.localGateways],
      inSync: s.feedInSync,
      routes: s.feed?.routes.length ?? 0,
      vteps: s.feed?.vteps.length ?? 0,
      skipped: [...(s.feed?.skipped ?? [])],
      ...(s.feedServer !== undefined ? { server: s.feedServer } : {}),
    },
    ...(s.dataplane !== undefined ? { dataplane: s.dataplane } : {}),
    config: {
      gatewaySelector: c.gatewaySelector,
      routeTables: `${c.routeTables.first}-${c.routeTables.last}`,
      rulePriority: c.rulePriority,
      vni: c.vni,
      vxlanPort: c.vxlanPort,
      healthPort: c.healthPort,
      statusSocket: c.statusSocket,
      gatewayPoll: c.gatewayPoll,
    },
  };
}

/** Each signal's state, when it changed and its detail, as `status` shows them. */
export function signalViews(pod: { ready: boolean; deleting: boolean }, s: GatewaySignals | undefined, toIso: ToIso): AgentStatusDocument['gateways'][number]['signals'] {
  const view = (state: string, since: number | undefined, detail?: string): SignalView => ({
    state,
    ...(since !== undefined ? { since: toIso(since) } : {}),
    ...(detail ? { detail } : {}),
  });
  const kube = view(pod.deleting ? 'terminating' : pod.ready ? 'Ready' : 'NotReady', s?.kube?.since);
  const st = s?.stream;
  const stream = st
    ? view(
        st.state === 'live' ? `live, ${st.draining ? 'draining' : st.ready ? 'ready' : `not ready (${(st.failing ?? []).join(', ')})`}` : st.state,
        st.since,
        st.state === 'live' ? `${st.connects} connect(s)` : st.lastError,
      )
    : undefined;
  const e = s?.echo;
  const echo = e ? view(e.state, e.since, e.state === 'up' && e.lastRttMs !== undefined ? `rtt ${roundMs(e.lastRttMs)} ms` : e.state === 'off' ? undefined : e.misses > 0 ? `${e.misses} missed${e.lastError ? `: ${e.lastError}` : ''}` : undefined) : undefined;
  const p = s?.poll;
  const poll = p ? view(p.state, p.since, p.lastError) : undefined;
  return { kube, ...(stream ? { stream } : {}), ...(echo ? { echo } : {}), ...(poll ? { poll } : {}) };
}

export function renderAgentStatusTable(doc: AgentStatusDocument): string {
  const now = Date.parse(doc.now);
  const out: string[] = [];
  out.push(`egress-gateway agent ${doc.version}  node ${doc.node.name}${doc.node.ipv4 ? ` (${doc.node.ipv4})` : ''}  pid ${doc.pid}  ${doc.phase}  up ${duration(doc.uptimeSeconds * 1000)}`);
  out.push(doc.ready ? 'READY: yes' : `READY: NO (failing: ${doc.failing.join(', ')})`);
  section(out, 'READINESS');
  table(
    out,
    ['CHECK', 'STATE', 'REASON'],
    Object.entries(doc.checks).map(([name, c]) => [name, c.ok ? 'ok' : 'FAIL', c.reason]),
  );
  section(out, 'STEERED PODS');
  if (doc.clients.length === 0) out.push('  (none: no pod on this node has an egress selector, nor its namespace)');
  else
    table(
      out,
      ['POD', 'IPS', 'FROM', 'GATEWAYS', 'NOTE'],
      doc.clients.map((c) => [
        c.pod,
        c.ips.join(','),
        c.source,
        !c.steered ? 'NOT STEERED (node path)' : c.gateways.length > 0 ? c.gateways.join(',') : 'NONE (fail closed)',
        c.problem ?? `${c.usable}/${c.matched} usable${c.maxNextHops > 0 ? `, max ${c.maxNextHops}` : ''}`,
      ]),
    );
  section(out, 'GATEWAYS');
  if (doc.gateways.length === 0) out.push(`  (none match ${doc.config.gatewaySelector})`);
  else
    table(
      out,
      ['GATEWAY', 'NODE', 'IPS', 'NEW FLOWS', 'OLD FLOWS', 'KUBE', 'STREAM', 'ECHO', 'POLL', 'WHY'],
      doc.gateways.map((g) => {
        const sig = (v: SignalView | undefined): string => (v ? `${v.state}${v.since ? ` (${ago(now, v.since)})` : ''}` : '-');
        const echo = g.signals.echo ? `${sig(g.signals.echo)}${g.signals.echo.detail ? `, ${g.signals.echo.detail}` : ''}` : '-';
        const poll = g.poll ? `${g.poll.state}${g.poll.failures > 0 ? ` (${g.poll.failures} failed)` : ''}` : '-';
        return [g.pod, g.node, g.ips.join(','), g.usable ? 'yes' : 'NO', g.keepFlows ? 'kept' : 'moved', sig(g.signals.kube), sig(g.signals.stream), echo, poll, g.reason];
      }),
    );
  section(out, 'KUBERNETES WATCHES');
  table(
    out,
    ['RESOURCE', 'SELECTOR', 'SYNCED', 'LISTS', 'EVENTS', 'RESTARTS', 'LAST ERROR'],
    doc.watches.map((w) => [w.name, w.selector ?? '-', w.synced ? 'yes' : 'NO', String(w.lists), String(w.events), String(w.restarts), w.lastError ?? '-']),
    [false, false, false, true, true, true, false],
  );
  section(out, 'STEERING');
  fields(out, [
    ['last apply', doc.steering.applied ? `${doc.steering.ok ? 'ok' : `FAILED: ${doc.steering.error ?? ''}`} (${ago(now, doc.steering.at)})` : 'not yet'],
    ['route tables', doc.config.routeTables],
    ['rule priority', String(doc.config.rulePriority)],
  ]);
  if (doc.dataplane !== undefined) out.push(...JSON.stringify(doc.dataplane, null, 2).split('\n').map((l) => `  ${l}`));
  section(out, 'ROUTE FEED');
  fields(out, [
    ['socket', doc.routeFeed.socket],
    ['local gateways', doc.routeFeed.localGateways.length > 0 ? doc.routeFeed.localGateways.join(', ') : '(none: the feed watches are off)'],
    ['state', doc.routeFeed.inSync ? `in sync, ${doc.routeFeed.routes} route(s), ${doc.routeFeed.vteps} VTEP(s)` : 'not in sync'],
    ...(doc.routeFeed.skipped.length > 0 ? ([['skipped', doc.routeFeed.skipped.map((k) => `${k.dst} (${k.reason})`).join('; ')]] as [string, string][]) : []),
  ]);
  return `${out.join('\n')}\n`;
}
