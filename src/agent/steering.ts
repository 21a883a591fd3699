import { createHash } from 'node:crypto';
import type { Cidr, IpAddress } from '../model/ip';
import { steeringGateway, type SteeredClient, type SteeringGateway, type SteeringSpec } from '../model/steering';
import { matches, printSelector, type Selector } from '../selector/ast';
import { tryParseSelector } from '../selector/parse';
import { LABEL_NAMESPACE_NAME, LABEL_ORCHESTRATOR, LABEL_POD_NAMESPACE, type EgressAnnotations, type NamespaceInfo, type PodInfo } from './cluster';

/**
 * Kubernetes state + gateway health → this node's SteeringSpec, as a pure function: no I/O, no clock.
 * The only memory is `previous` (which gateways each pod was given last time), passed in and handed
 * back, so that a pod keeps its gateways while they stay usable (docs/agent.md, "maxNextHops").
 *
 * Who is a client: a pod on this node, not host-networked, not finished, with an address, that is not
 * itself a gateway (a namespace annotated for egress often holds its gateways too; steering a gateway
 * into itself would loop), and whose own annotations or, failing that, its namespace's carry
 * `egress.projectcalico.org/selector`. The three annotations are taken together from whichever of the
 * two has the selector: a pod's own win over its namespace's.
 *
 * Fail closed: a client whose namespace the agent has not seen yet, or that no usable gateway
 * matches, gets an empty gateway list: `unreachable default`, never the node's own path. Per family
 * too: a dual-stack pod whose gateways have no IPv6 address gets its gateways (for IPv4) and its
 * IPv6 traffic fails closed (the dataplane writes the IPv6 backstop alone); its report says so.
 *
 * Left unsteered (issue #15's choice, docs/agent.md "Annotations that do not parse"): a client whose
 * `selector` or `namespaceSelector` does not parse gets no rule at all, so its traffic takes the
 * node's path as if it were not annotated. Its own broken annotation does not fall back to its
 * namespace's (that would steer it where nobody asked). It is reported (errors, and its client
 * report says `unsteered` with the parser's message) so the agent logs it once, counts it and shows
 * it in `status`.
 */

export interface SteeringInputs {
  readonly nodeName: string;
  /** This node's IPv4 address (egress.calico's local address); no spec can be built without it. */
  readonly nodeIp?: IpAddress;
  readonly vni: number;
  readonly port: number;
  /** Pods on this node (the field-selector watch). */
  readonly pods: Iterable<PodInfo>;
  readonly namespaces: ReadonlyMap<string, NamespaceInfo>;
  /** Gateway pods of the whole cluster (the label-selector watch). */
  readonly gateways: Iterable<PodInfo>;
  /** Whether a gateway may take new flows now (Kubernetes readiness, deletion, the stream, the echo, the poll). */
  readonly usable: (gateway: PodInfo) => boolean;
  /** Whether a gateway's established flows keep their path (usable, draining, or lost for less than the grace); default: usable. */
  readonly keepFlows?: (gateway: PodInfo) => boolean;
  /** Destinations steered pods reach directly (IP pools, this node, AGENT_BYPASS_CIDRS): the spec's `bypass`. */
  readonly bypass?: readonly Cidr[];
}

export type AnnotationSource = 'pod' | 'namespace';

export interface ClientReport {
  readonly pod: string;
  /** false: its annotations do not parse, so it has no rule (its traffic takes the node's path). */
  readonly steered: boolean;
  readonly ips: readonly string[];
  readonly source: AnnotationSource | 'none';
  readonly selector?: string;
  readonly namespaceSelector?: string;
  readonly maxNextHops: number;
  /** Gateways the selectors match, usable or not. */
  readonly matched: number;
  /** Of those, usable now. */
  readonly usable: number;
  /** The chosen gateways ("namespace/name"), in the spec's order. */
  readonly gateways: readonly string[];
  /** Why the pod is failed closed or a setting was ignored. */
  readonly problem?: string;
}

export interface AnnotationError {
  readonly pod: string;
  /** What carries the bad value: the pod ("namespace/name") or its namespace ("namespace <name>"): one log line and one count each. */
  readonly subject: string;
  readonly source: AnnotationSource;
  readonly annotation: string;
  readonly value: string;
  readonly message: string;
}

export interface SteeringPlan {
  /** Undefined while this node's address is unknown: nothing can be programmed yet. */
  readonly spec?: SteeringSpec;
  /** Gateway keys per client pod key: the next call's `previous`. */
  readonly assignments: ReadonlyMap<string, readonly string[]>;
  readonly clients: readonly ClientReport[];
  readonly errors: readonly AnnotationError[];
  /** Gateways some client here may use (matched by its selectors, usable or not): the ones whose health matters to this node. */
  readonly relevantGateways: ReadonlySet<string>;
}

interface Wanted {
  readonly pod: PodInfo;
  readonly source: AnnotationSource | 'none';
  readonly ann?: EgressAnnotations;
  readonly selector?: Selector;
  readonly namespaceSelector?: Selector;
  readonly maxNextHops: number;
  readonly candidates: readonly PodInfo[];
  readonly matched: number;
  readonly matchedKeys?: readonly string[];
  readonly problem?: string;
  /** Its annotations do not parse: reported, no rule. */
  readonly unsteered?: boolean;
}

const TERMINAL_PHASES = new Set(['Succeeded', 'Failed']);

/** Calico's automatic labels on a gateway pod: selectors may name its namespace. */
function podSubjectLabels(p: PodInfo): Record<string, string> {
  return { ...p.labels, [LABEL_POD_NAMESPACE]: p.namespace, [LABEL_ORCHESTRATOR]: 'k8s' };
}

function namespaceSubjectLabels(ns: NamespaceInfo): Record<string, string> {
  return { ...ns.labels, [LABEL_NAMESPACE_NAME]: ns.name };
}

/**
 * maxNextHops: unset, empty or "0" means every usable gateway (Enterprise's documented default);
 * anything but a whole number is ignored with a problem reported (it cannot change which addresses
 * the traffic leaves with, only how many gateways share it).
 */
function parseMaxNextHops(value: string | undefined): { max: number; problem?: string } {
  if (value === undefined || value.trim() === '') return { max: 0 };
  const t = value.trim();
  if (!/^\d{1,6}$/.test(t)) return { max: 0, problem: `maxNextHops ${JSON.stringify(value)} is not a whole number; using every matching gateway` };
  return { max: Number(t) };
}

/** A stable per-(pod, gateway) rank: ties in load are broken the same way on every agent, every time. */
function rank(podId: string, gatewayKey: string): string {
  return createHash('sha1').update(`${podId}|${gatewayKey}`).digest('hex');
}

function compareIps(a: IpAddress, b: IpAddress): number {
  if (a.family !== b.family) return a.family - b.family;
  const x = a.bytes;
  const y = b.bytes;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/**
 * Whether this node's egress.calico can reach the gateway: its vxlan0 runs over its IPv4 address
 * (its IPv6 address when it has no IPv4 one, docs/dual-stack.md), and a VXLAN device has a single
 * underlay family: the node's address's.
 */
function reachable(g: PodInfo, inputs: Pick<SteeringInputs, 'nodeIp'>): boolean {
  const tunnel = g.ips.find((ip) => ip.family === 4) ?? g.ips.find((ip) => ip.family === 6);
  return tunnel !== undefined && tunnel.family === (inputs.nodeIp?.family ?? 4);
}

/** The address a gateway is known by: IPv4, else IPv6 (steeringGateway never returns one with neither). */
function primaryIp(g: SteeringGateway): IpAddress {
  return (g.ipv4 ?? g.ipv6) as IpAddress;
}

/**
 * The families of the pod's addresses that none of its gateways has an address of: that traffic
 * fails closed (the dataplane's unreachable backstop), which status should say.
 */
function uncoveredFamilies(podIps: readonly IpAddress[], gateways: readonly SteeringGateway[]): string | undefined {
  const missing = [...new Set(podIps.map((ip) => ip.family))].filter((f) => !gateways.some((g) => (f === 4 ? g.ipv4 : g.ipv6) !== undefined));
  if (missing.length === 0) return undefined;
  return missing.map((f) => `its gateways have no IPv${f} address: its IPv${f} traffic fails closed`).join('; ');
}

function uniqueCidrs(list: readonly Cidr[]): Cidr[] {
  const seen = new Map<string, Cidr>();
  for (const c of list) seen.set(c.text, c);
  return [...seen.values()].sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
}

export function isClientCandidate(p: PodInfo, nodeName: string): boolean {
  return p.nodeName === nodeName && !p.hostNetwork && !TERMINAL_PHASES.has(p.phase) && p.ips.length > 0;
}

export function planSteering(inputs: SteeringInputs, previous: ReadonlyMap<string, readonly string[]> = new Map()): SteeringPlan {
  const gateways = [...inputs.gateways].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const gatewayKeys = new Set(gateways.map((g) => g.key));
  const usable = new Set(gateways.filter((g) => inputs.usable(g)).map((g) => g.key));
  const errors: AnnotationError[] = [];
  const wanted: Wanted[] = [];

  const pods = [...inputs.pods].filter((p) => isClientCandidate(p, inputs.nodeName) && !gatewayKeys.has(p.key)).sort((a, b) => (a.key < b.key ? -1 : 1));
  for (const pod of pods) {
    const w = want(pod, inputs, gateways, usable, errors);
    if (w) wanted.push(w);
  }

  // First the gateways each pod already has and may keep, then the vacancies, least-used first:
  // a gateway that comes back or joins takes new pods without moving the flows of existing ones.
  const load = new Map<string, number>();
  const chosen = new Map<string, string[]>();
  for (const w of wanted) {
    const keep = (previous.get(w.pod.key) ?? []).filter((k) => w.candidates.some((c) => c.key === k));
    const limit = w.maxNextHops === 0 ? w.candidates.length : w.maxNextHops;
    const kept = keep.slice(0, limit);
    chosen.set(w.pod.key, kept);
    for (const k of kept) load.set(k, (load.get(k) ?? 0) + 1);
  }
  for (const w of wanted) {
    const mine = chosen.get(w.pod.key) as string[];
    const limit = w.maxNextHops === 0 ? w.candidates.length : Math.min(w.maxNextHops, w.candidates.length);
    const podId = w.pod.uid || w.pod.key;
    while (mine.length < limit) {
      let best: { key: string; load: number; rank: string } | undefined;
      for (const c of w.candidates) {
        if (mine.includes(c.key)) continue;
        const l = load.get(c.key) ?? 0;
        const r = rank(podId, c.key);
        if (!best || l < best.load || (l === best.load && r < best.rank)) best = { key: c.key, load: l, rank: r };
      }
      if (!best) break;
      mine.push(best.key);
      load.set(best.key, best.load + 1);
    }
  }

  const byKey = new Map(gateways.map((g) => [g.key, g]));
  const clients: SteeredClient[] = [];
  const reports: ClientReport[] = [];
  const assignments = new Map<string, readonly string[]>();
  for (const w of wanted) {
    const keys = chosen.get(w.pod.key) ?? [];
    // Each gateway whole (a dual-stack one's MAC comes from its IPv4 address, even for the pod's IPv6).
    const chosenGateways = keys.flatMap((k) => {
      const g = steeringGateway(byKey.get(k)?.ips ?? []);
      return g ? [{ key: k, g }] : [];
    });
    chosenGateways.sort((a, b) => compareIps(primaryIp(a.g), primaryIp(b.g)));
    const ordered = chosenGateways.map((c) => c.key);
    if (!w.unsteered) {
      assignments.set(w.pod.key, ordered);
      clients.push({ pod: w.pod.key, ips: w.pod.ips, gateways: chosenGateways.map((c) => c.g) });
    }
    const problem =
      w.problem ??
      (keys.length === 0
        ? w.matched === 0
          ? 'no gateway matches the selectors: failed closed'
          : 'no matching gateway is usable: failed closed'
        : uncoveredFamilies(w.pod.ips, chosenGateways.map((c) => c.g)));
    reports.push({
      pod: w.pod.key,
      steered: !w.unsteered,
      ips: w.pod.ips.map((ip) => ip.text),
      source: w.source,
      ...(w.selector ? { selector: printSelector(w.selector) } : w.ann?.selector !== undefined ? { selector: w.ann.selector } : {}),
      ...(w.namespaceSelector ? { namespaceSelector: printSelector(w.namespaceSelector) } : w.ann?.namespaceSelector !== undefined ? { namespaceSelector: w.ann.namespaceSelector } : {}),
      maxNextHops: w.maxNextHops,
      matched: w.matched,
      usable: w.candidates.length,
      gateways: ordered,
      ...(problem ? { problem } : {}),
    });
  }

  const relevantGateways = new Set(wanted.flatMap((w) => w.matchedKeys ?? []));
  // Gateways no client takes new flows to that still carry their established ones: a draining
  // gateway until it is gone, one lost for less than the grace (the clients' own are pinned anyway).
  const keep = inputs.keepFlows ?? inputs.usable;
  const chosenKeys = new Set([...assignments.values()].flat());
  const keepFlows = gateways
    .filter((g) => relevantGateways.has(g.key) && !chosenKeys.has(g.key) && reachable(g, inputs) && keep(g))
    .flatMap((g) => {
      const sg = steeringGateway(g.ips);
      return sg ? [sg] : [];
    })
    .sort((a, b) => compareIps(primaryIp(a), primaryIp(b)));
  const spec: SteeringSpec | undefined = inputs.nodeIp
    ? {
        device: { nodeName: inputs.nodeName, vni: inputs.vni, port: inputs.port, localIp: inputs.nodeIp },
        clients,
        ...(inputs.bypass && inputs.bypass.length > 0 ? { bypass: uniqueCidrs(inputs.bypass) } : {}),
        ...(keepFlows.length > 0 ? { keepFlows } : {}),
      }
    : undefined;
  return { ...(spec ? { spec } : {}), assignments, clients: reports, errors, relevantGateways };
}

/** What one pod asks for, or undefined when it asks for nothing (it is not steered). */
function want(pod: PodInfo, inputs: SteeringInputs, gateways: readonly PodInfo[], usable: ReadonlySet<string>, errors: AnnotationError[]): Wanted | undefined {
  const ns = inputs.namespaces.get(pod.namespace);
  const has = (a: EgressAnnotations | undefined): a is EgressAnnotations => a?.selector !== undefined && a.selector.trim() !== '';
  let source: AnnotationSource;
  let ann: EgressAnnotations;
  if (has(pod.egress)) {
    source = 'pod';
    ann = pod.egress;
  } else if (!ns) {
    // The namespace's annotations are not known yet (its watch event may trail the pod's): hold the pod closed.
    return { pod, source: 'none', maxNextHops: 0, candidates: [], matched: 0, problem: `namespace ${pod.namespace} not seen yet: failed closed until it is` };
  } else if (has(ns.egress)) {
    source = 'namespace';
    ann = ns.egress;
  } else return undefined;

  const subject = source === 'pod' ? pod.key : `namespace ${pod.namespace}`;
  const unusable = (annotation: string, value: string, message: string): Wanted => {
    errors.push({ pod: pod.key, subject, source, annotation, value, message });
    return { pod, source, ann, maxNextHops: 0, candidates: [], matched: 0, problem: `${message.split('\n')[0] ?? message}: does not parse, not steered`, unsteered: true };
  };
  const sel = tryParseSelector(ann.selector ?? '');
  if (!sel.ok) return unusable('selector', ann.selector ?? '', sel.error.message);
  let nsSel: Selector | undefined;
  if (ann.namespaceSelector !== undefined && ann.namespaceSelector.trim() !== '') {
    const parsed = tryParseSelector(ann.namespaceSelector);
    if (!parsed.ok) return unusable('namespaceSelector', ann.namespaceSelector, parsed.error.message);
    nsSel = parsed.selector;
  }
  const max = parseMaxNextHops(ann.maxNextHops);
  if (max.problem) errors.push({ pod: pod.key, subject, source, annotation: 'maxNextHops', value: ann.maxNextHops ?? '', message: max.problem });

  const matchedGateways = gateways.filter((g) => {
    if (nsSel) {
      const gns = inputs.namespaces.get(g.namespace);
      if (!gns || !matches(nsSel, { labels: namespaceSubjectLabels(gns), namespaced: true })) return false;
    } else if (g.namespace !== pod.namespace) return false;
    return matches(sel.selector, { labels: podSubjectLabels(g), namespaced: true });
  });
  const families = new Set(pod.ips.map((ip) => ip.family));
  // The pod's first family (IPv4 on a dual-stack pod) decides: a gateway must carry that one. And
  // this node's tunnel must reach it (an IPv6-only gateway's vxlan0 runs over IPv6).
  const primary = pod.ips[0]?.family;
  const candidates = matchedGateways.filter((g) => usable.has(g.key) && reachable(g, inputs) && g.ips.some((ip) => ip.family === primary && families.has(ip.family)));
  return {
    pod,
    source,
    ann,
    selector: sel.selector,
    ...(nsSel ? { namespaceSelector: nsSel } : {}),
    maxNextHops: max.max,
    candidates,
    matched: matchedGateways.length,
    matchedKeys: matchedGateways.map((g) => g.key),
    ...(max.problem ? { problem: max.problem } : {}),
  };
}
