import type { AgentConfig } from '../config/agent-config';
import { describeCause } from '../errors';
import type { CheckReport, ReadinessReport, AgentCheckName } from '../health/readiness';
import { Lifecycle, type StartOutcome } from '../lifecycle';
import type { Clock, TimerHandle } from '../model/clock';
import { cidrOf, type Cidr } from '../model/ip';
import { steeringSpecText, type SteeringSpec } from '../model/steering';
import type { Logger } from '../observability/logger';
import { blockFrom, namespaceFrom, nodeFrom, podFrom, poolFrom, type BlockInfo, type NamespaceInfo, type NodeInfo, type PodInfo, type PoolInfo } from './cluster';
import type { EchoPort } from './gateway-health/echo';
import { GatewayHealthMonitor, httpReadinessProbe, signalPolicyOf, type ReadinessProbe } from './gateway-health/monitor';
import type { GatewaySignals, ProbeRecord, Verdict } from './gateway-health/state';
import type { StreamTransport } from './gateway-health/stream';
import { watchTargets, type ManagedWatch, type WatchFactory } from './kube/sources';
import type { WatchHandlers } from './kube/watch';
import type { AgentMetrics } from './metrics';
import type { RouteFeedServer, SteeringDataplane } from './ports';
import { computeRouteFeed, routeFeedText, type RouteFeed } from './route-feed';
import { planSteering, type SteeringPlan } from './steering';

export interface AgentDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: AgentMetrics;
  readonly watches: WatchFactory;
  readonly dataplane: SteeringDataplane;
  readonly feed: RouteFeedServer;
  /** The gateway poll (HTTP GET /readiness by default). */
  readonly probe?: ReadinessProbe;
  /** The gateways' readiness streams (node:http by default). */
  readonly streamTransport?: StreamTransport;
  /** ICMP echo to the gateway pods; absent: no echo (the stream's heartbeat is the check then). */
  readonly echo?: EchoPort;
  /** Debounce of recomputes after a burst of events (default 50 ms). */
  readonly debounceMs?: number;
}

export type AgentPhase = 'starting' | 'running' | 'stopping' | 'stopped';

/** A gateway's signal changed: the pass that moves flows off it (or back) runs after this little. */
const HEALTH_DEBOUNCE_MS = 2;

/**
 * Keyed stores, one per kind the watches fill. `upsert` says whether what the agent reads of the
 * object changed: a node's status update (every few minutes per node, from every node of the
 * cluster) changes its resourceVersion but not its addresses, and makes no pass.
 */
class Store<T> {
  readonly items = new Map<string, T>();
  private readonly texts = new Map<string, string>();
  constructor(
    private readonly parse: (raw: unknown) => T | undefined,
    private readonly keyOf: (raw: unknown) => string | undefined,
  ) {}
  upsert(raw: unknown): boolean {
    const key = this.keyOf(raw);
    if (key === undefined) return false;
    const v = this.parse(raw);
    if (v === undefined) return this.remove(raw);
    const text = JSON.stringify(v, (_k, x: unknown) => (x instanceof Set ? [...x] : x));
    if (this.texts.get(key) === text) return false;
    this.items.set(key, v);
    this.texts.set(key, text);
    return true;
  }
  remove(raw: unknown): boolean {
    const key = this.keyOf(raw);
    if (key === undefined) return false;
    this.texts.delete(key);
    return this.items.delete(key);
  }
  clear(): void {
    this.items.clear();
    this.texts.clear();
  }
}

const metaKey = (raw: unknown): string | undefined => {
  const m = (raw as { metadata?: { name?: unknown; namespace?: unknown } } | undefined)?.metadata;
  if (typeof m?.name !== 'string') return undefined;
  return typeof m.namespace === 'string' ? `${m.namespace}/${m.name}` : m.name;
};

/**
 * `egress-gateway agent`: the OSS node agent's control plane. Watches feed in-memory stores and
 * call trigger(); a debounced pass computes the SteeringSpec (pure, steering.ts) and the route feed
 * (pure, route-feed.ts) and hands them to the dataplane and the PolicySync server. Nothing is
 * programmed before every core watch has listed once (a half-listed state would unsteer pods that
 * simply had not been seen yet), and the route feed says in_sync only once its watches have too.
 */
export class Agent {
  readonly pods = new Store<PodInfo>(podFrom, metaKey);
  readonly gateways = new Store<PodInfo>(podFrom, metaKey);
  readonly namespaces = new Store<NamespaceInfo>(namespaceFrom, metaKey);
  readonly selfNode = new Store<NodeInfo>(nodeFrom, metaKey);
  readonly nodes = new Store<NodeInfo>(nodeFrom, metaKey);
  readonly blocks = new Store<BlockInfo>(blockFrom, metaKey);
  readonly pools = new Store<PoolInfo>(poolFrom, metaKey);

  readonly health: GatewayHealthMonitor;
  private readonly lifecycle: Lifecycle;
  private readonly core: ManagedWatch[];
  private feedWatches: ManagedWatch[] | undefined;
  private readonly targets: ReturnType<typeof watchTargets>;
  private readonly log: Logger;
  private readonly clock: Clock;
  private timer: TimerHandle | undefined;
  /** When the pending pass runs (clock ms), so an urgent trigger can bring it forward. */
  private timerDue = 0;
  private retryTimer: TimerHandle | undefined;
  /** A pass when some gateway's verdict changes by itself (its flows' grace running out). */
  private reviewTimer: TimerHandle | undefined;
  private verdicts: ReadonlyMap<string, Verdict> = new Map();
  private retryDelayMs = 500;
  private phase: AgentPhase = 'starting';
  readonly startedAt: number;

  private assignments: ReadonlyMap<string, readonly string[]> = new Map();
  private lastPlan: SteeringPlan | undefined;
  private applied: { text: string; ok: boolean; at: number; error?: string; durationMs: number } | undefined;
  private applying: Promise<void> | undefined;
  private applyAgain = false;
  private lastFeed: RouteFeed | undefined;
  private feedText: string | undefined;
  private feedInSync = false;
  /** Annotation errors already logged: each is logged once while it lasts, and counted once. */
  private readonly reported = new Set<string>();

  constructor(
    readonly config: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.clock = deps.clock;
    this.log = deps.logger;
    this.startedAt = this.clock.now();
    this.lifecycle = new Lifecycle(this.log);
    this.targets = watchTargets(config.nodeName, config.gatewaySelector);
    this.health = new GatewayHealthMonitor({
      clock: this.clock,
      logger: this.log,
      policy: config.gatewayPoll,
      signals: signalPolicyOf(config.gatewaySignals),
      probe: deps.probe ?? httpReadinessProbe,
      ...(deps.streamTransport ? { transport: deps.streamTransport } : {}),
      ...(deps.echo ? { echo: deps.echo } : {}),
      onChange: (change) => {
        deps.metrics.gatewayHealthChanges.inc({ signal: change.signal, to: change.to });
        // A gateway going or coming back is what failover is about: the pass runs at once.
        this.trigger(`gateway ${change.gateway}: ${change.signal} ${change.to}`, HEALTH_DEBOUNCE_MS);
      },
    });
    const watch = (target: (typeof this.targets)[keyof typeof this.targets], store: Store<unknown>): ManagedWatch =>
      deps.watches.create(target, this.handlersFor(target.name, store));
    this.core = [
      watch(this.targets.localPods, this.pods),
      watch(this.targets.gateways, this.gateways),
      watch(this.targets.namespaces, this.namespaces),
      watch(this.targets.selfNode, this.selfNode),
      watch(this.targets.nodes, this.nodes),
      watch(this.targets.pools, this.pools),
    ];
    this.lifecycle
      .add({ name: 'route-feed', start: () => deps.feed.start(), stop: () => deps.feed.close() })
      .add({ name: 'gateway-health', stop: () => this.health.stop() })
      .add({
        name: 'watches',
        start: () => {
          for (const w of this.core) w.start();
        },
        stop: async () => {
          this.timer?.cancel();
          this.retryTimer?.cancel();
          this.reviewTimer?.cancel();
          await Promise.all([...this.core, ...(this.feedWatches ?? [])].map((w) => w.stop()));
          await this.applying;
        },
      })
      .add({ name: 'dataplane', stop: () => deps.dataplane.close?.() });
  }

  private handlersFor(name: string, store: Store<unknown>): WatchHandlers {
    return {
      upsert: (raw) => {
        this.deps.metrics.watchEvents.inc({ resource: name, type: 'upsert' });
        if (store.upsert(raw)) this.trigger(`${name} changed`);
      },
      remove: (raw) => {
        this.deps.metrics.watchEvents.inc({ resource: name, type: 'delete' });
        if (store.remove(raw)) this.trigger(`${name} deleted`);
      },
      synced: () => {
        this.deps.metrics.watchLists.inc({ resource: name });
        this.trigger(`${name} listed`);
      },
    };
  }

  async start(): Promise<StartOutcome> {
    this.log.info({ component: 'agent', event: 'starting', node: this.config.nodeName, gatewaySelector: this.config.gatewaySelector }, `egress agent starting on node ${this.config.nodeName}`);
    const outcome = await this.lifecycle.start();
    if (outcome === 'started') this.phase = 'running';
    return outcome;
  }

  async stop(): Promise<void> {
    this.phase = 'stopping';
    await this.lifecycle.stop();
    this.phase = 'stopped';
    this.log.info({ component: 'agent', event: 'stopped' }, 'egress agent stopped');
  }

  get state(): AgentPhase {
    return this.phase;
  }

  get coreSynced(): boolean {
    return this.core.every((w) => w.synced);
  }

  /**
   * Events only update the stores and ask for a pass; a burst makes one pass. `delayMs` (default:
   * the debounce) brings a pending pass forward when it is sooner.
   */
  trigger(reason: string, delayMs = this.deps.debounceMs ?? 50): void {
    if (this.phase === 'stopping' || this.phase === 'stopped') return;
    const due = this.clock.now() + delayMs;
    if (this.timer && this.timerDue <= due) return;
    this.timer?.cancel();
    this.log.debug({ component: 'agent', event: 'trigger', reason }, reason);
    this.timerDue = due;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.pass();
    }, delayMs);
  }

  private localGateways(): PodInfo[] {
    return [...this.gateways.items.values()].filter((g) => g.nodeName === this.config.nodeName && g.ips.length > 0);
  }

  private verdictOf = (g: PodInfo): Verdict => this.verdicts.get(g.key) ?? this.health.verdict(g);

  private pass(): void {
    if (!this.coreSynced) return;
    const verdicts = new Map<string, Verdict>();
    for (const g of this.gateways.items.values()) verdicts.set(g.key, this.health.verdict(g));
    this.verdicts = verdicts;
    const self = this.selfNode.items.get(this.config.nodeName);
    const plan = planSteering(
      {
        nodeName: this.config.nodeName,
        ...(self?.ipv4 ? { nodeIp: self.ipv4 } : {}),
        vni: this.config.vni,
        port: this.config.vxlanPort,
        pods: this.pods.items.values(),
        namespaces: this.namespaces.items,
        gateways: this.gateways.items.values(),
        usable: (g) => this.verdictOf(g).usable,
        keepFlows: (g) => this.verdictOf(g).keepFlows,
        bypass: this.bypass(self),
      },
      this.assignments,
    );
    this.assignments = plan.assignments;
    this.lastPlan = plan;
    this.reportErrors(plan);
    this.health.setTargets([...this.gateways.items.values()].filter((g) => plan.relevantGateways.has(g.key)));
    this.scheduleReview(verdicts);
    this.recordGatewayMetrics(plan.relevantGateways, verdicts);
    const steered = plan.clients.filter((c) => c.steered);
    this.deps.metrics.steeredPods.set(steered.length);
    this.deps.metrics.failedClosedPods.set(steered.filter((c) => c.gateways.length === 0).length);
    this.deps.metrics.unsteeredPods.set(plan.clients.length - steered.length);
    if (plan.spec) this.requestApply(plan.spec);
    this.passFeed();
  }

  /** Every change of a signal triggers a pass, so the per-gateway metrics are brought up to date here. */
  private recordGatewayMetrics(relevant: ReadonlySet<string>, verdicts: ReadonlyMap<string, Verdict>): void {
    const m = this.deps.metrics;
    m.gatewaysUsable.set([...relevant].filter((k) => verdicts.get(k)?.usable).length);
    m.gatewaySignal.reset();
    m.gatewaySignalSince.reset();
    m.gatewayUsable.reset();
    m.gatewayFlowsKept.reset();
    const toUnix = (since: number): number => (Date.now() - (this.clock.now() - since)) / 1000;
    for (const { key, signals } of this.health.all()) {
      const pod = this.gateways.items.get(key);
      const v = verdicts.get(key);
      if (v) {
        m.gatewayUsable.set({ gateway: key }, v.usable ? 1 : 0);
        m.gatewayFlowsKept.set({ gateway: key }, v.keepFlows ? 1 : 0);
      }
      const states: Array<[string, string | undefined, number | undefined]> = [
        ['kube', pod ? (pod.deleting ? 'terminating' : pod.ready ? 'ready' : 'not_ready') : undefined, signals.kube?.since],
        ['stream', signals.stream && (signals.stream.state === 'live' ? (signals.stream.draining ? 'live_draining' : signals.stream.ready ? 'live_ready' : 'live_not_ready') : signals.stream.state), signals.stream?.since],
        ['echo', signals.echo?.state, signals.echo?.since],
        ['poll', signals.poll?.state, signals.poll?.since],
      ];
      for (const [signal, state, since] of states) {
        if (state === undefined) continue;
        m.gatewaySignal.set({ gateway: key, signal, state }, 1);
        if (since !== undefined) m.gatewaySignalSince.set({ gateway: key, signal }, toUnix(since));
      }
    }
  }

  /** The next pass when a verdict changes by itself (a lost gateway's flows' grace runs out). */
  private scheduleReview(verdicts: ReadonlyMap<string, Verdict>): void {
    this.reviewTimer?.cancel();
    this.reviewTimer = undefined;
    const at = Math.min(...[...verdicts.values()].map((v) => v.reviewAt ?? Infinity));
    if (!Number.isFinite(at)) return;
    this.reviewTimer = this.clock.setTimeout(() => {
      this.reviewTimer = undefined;
      this.trigger('a gateway verdict ran out', 0);
    }, Math.max(0, at - this.clock.now()));
  }

  /**
   * What steered pods reach directly, as Enterprise's Felix leaves them unmarked: the IP pools
   * (other pods, and services once kube-proxy has picked a pod), every node's address (its
   * all-hosts-net: Calico's projectcalico.org/IPv4Address of each node, so the API server on the
   * control-plane nodes too), this node's addresses, and AGENT_BYPASS_CIDRS (Felix's
   * externalNodesCIDRList: say, a managed API server that runs on no node).
   */
  private bypass(self: NodeInfo | undefined): Cidr[] {
    const pools = [...this.pools.items.values()].map((p) => p.cidr);
    const hosts = [self, ...this.nodes.items.values()]
      .flatMap((n) => [n?.ipv4, n?.ipv6])
      .filter((ip): ip is NonNullable<typeof ip> => ip !== undefined)
      .map((ip) => cidrOf(ip, ip.family === 4 ? 32 : 128));
    return [...pools, ...hosts, ...this.config.bypassCidrs];
  }

  /**
   * Each bad value is logged and counted once while it lasts, per what carries it: a namespace's
   * bad selector is one line however many of its pods run here (the pods are in `status`).
   */
  private reportErrors(plan: SteeringPlan): void {
    const now = new Set<string>();
    for (const e of plan.errors) {
      const key = `${e.subject}|${e.annotation}|${e.value}`;
      now.add(key);
      if (this.reported.has(key)) continue;
      this.reported.add(key);
      this.deps.metrics.annotationErrors.inc({ annotation: e.annotation });
      const consequence = e.annotation === 'maxNextHops' ? '' : e.source === 'pod' ? '; the pod is not steered' : `; its pods here are not steered (${e.pod} first)`;
      this.log.warn(
        { component: 'agent', event: 'annotation_invalid', subject: e.subject, pod: e.pod, source: e.source, annotation: e.annotation, value: e.value },
        `${e.subject}: annotation ${e.annotation} ${JSON.stringify(e.value)}: ${e.message}${consequence}`,
      );
    }
    for (const k of [...this.reported]) if (!now.has(k)) this.reported.delete(k);
  }

  /** One apply at a time; a newer spec waits for the running one, then goes (only the latest). */
  private requestApply(spec: SteeringSpec): void {
    const text = steeringSpecText(spec);
    if (this.applied?.ok && this.applied.text === text && !this.applying) return;
    if (this.applying) {
      this.applyAgain = true;
      return;
    }
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    const started = this.clock.now();
    this.applying = this.deps.dataplane
      .apply(spec)
      .then(
        () => {
          const changed = this.applied?.text !== text;
          this.applied = { text, ok: true, at: Date.now(), durationMs: this.clock.now() - started };
          this.retryDelayMs = 500;
          this.deps.metrics.applies.inc({ result: 'ok' });
          if (changed) this.log.info({ component: 'agent', event: 'steering_applied', clients: spec.clients.length }, `steering applied: ${spec.clients.length} pod(s)`);
        },
        (err: unknown) => {
          const error = describeCause(err);
          this.applied = { text, ok: false, at: Date.now(), error, durationMs: this.clock.now() - started };
          this.deps.metrics.applies.inc({ result: 'error' });
          const delay = this.retryDelayMs;
          this.retryDelayMs = Math.min(this.retryDelayMs * 2, 30_000);
          this.log.warn({ component: 'agent', event: 'steering_failed', err, retryMs: delay }, `programming the steering failed: ${error}; retrying in ${delay} ms`);
          this.retryTimer = this.clock.setTimeout(() => {
            this.retryTimer = undefined;
            this.trigger('retry after a failed apply');
          }, delay);
        },
      )
      .finally(() => {
        this.applying = undefined;
        if (this.applyAgain) {
          this.applyAgain = false;
          this.trigger('a newer spec waited for the last apply');
        }
      });
  }

  /**
   * The route feed's block watch runs only while a gateway runs on this node: most agents never list
   * the cluster's IPAM blocks (docs/agent.md, scale). While it (re)lists, the last published feed
   * stands; a half-listed one would make the gateways delete return routes.
   */
  private passFeed(): void {
    const local = this.localGateways();
    if (local.length > 0 && !this.feedWatches) this.startFeedWatches();
    if (local.length === 0 && this.feedWatches) void this.stopFeedWatches();
    if (!this.feedWatches || !this.feedWatches.every((w) => w.synced) || !this.coreSynced) return;
    const nodes = new Map(this.nodes.items);
    const self = this.selfNode.items.get(this.config.nodeName);
    // This node whole (its status addresses too), over its metadata-only copy.
    if (self) nodes.set(self.name, self);
    const feed = computeRouteFeed({ nodeName: this.config.nodeName, localGateways: local, nodes, blocks: this.blocks.items.values(), pools: this.pools.items.values() });
    this.lastFeed = feed;
    const text = routeFeedText(feed);
    if (text !== this.feedText) {
      this.deps.feed.replace(feed.routes, feed.vteps);
      this.feedText = text;
      this.deps.metrics.feedRoutes.set(feed.routes.length);
      this.log.info({ component: 'agent', event: 'route_feed_changed', routes: feed.routes.length, vteps: feed.vteps.length, skipped: feed.skipped.length }, `route feed: ${feed.routes.length} route(s), ${feed.vteps.length} VTEP(s)`);
    }
    if (!this.feedInSync) {
      this.deps.feed.inSync();
      this.feedInSync = true;
    }
  }

  private startFeedWatches(): void {
    this.blocks.clear();
    this.feedWatches = [this.deps.watches.create(this.targets.blocks, this.handlersFor(this.targets.blocks.name, this.blocks))];
    this.log.info({ component: 'agent', event: 'route_feed_watches_started' }, 'a gateway runs on this node: watching IPAM blocks for its route feed');
    for (const w of this.feedWatches) w.start();
  }

  private async stopFeedWatches(): Promise<void> {
    const ws = this.feedWatches ?? [];
    this.feedWatches = undefined;
    this.log.info({ component: 'agent', event: 'route_feed_watches_stopped' }, 'no gateway runs on this node any more: the route feed watch stops');
    await Promise.all(ws.map((w) => w.stop()));
  }

  /** What /readiness says: the watches have listed, this node's address is known, the last apply held, the feed is in sync (when a gateway runs here). */
  readiness(): ReadinessReport {
    const checks: Partial<Record<AgentCheckName, CheckReport>> = {};
    const unsynced = this.core.filter((w) => !w.synced).map((w) => w.stats().name);
    checks.kube = unsynced.length === 0 ? { ok: true, reason: 'every watch has listed' } : { ok: false, reason: `waiting for the first list of ${unsynced.join(', ')}` };
    const self = this.selfNode.items.get(this.config.nodeName);
    checks.node = self?.ipv4 ? { ok: true, reason: `node ${this.config.nodeName} at ${self.ipv4.text}` } : { ok: false, reason: `node ${this.config.nodeName} has no IPv4 address in the API yet` };
    const a = this.applied;
    checks.dataplane = !a ? { ok: false, reason: 'the steering has not been programmed yet' } : a.ok ? { ok: true, reason: 'the last apply succeeded' } : { ok: false, reason: `the last apply failed: ${a.error ?? ''}` };
    if (this.localGateways().length > 0) {
      checks.routefeed = this.feedInSync ? { ok: true, reason: 'the route feed is in sync' } : { ok: false, reason: 'listing IPAM blocks for the route feed' };
    }
    const order: AgentCheckName[] = ['kube', 'node', 'dataplane', 'routefeed'];
    const failing = order.filter((n) => checks[n]?.ok === false);
    return { ready: failing.length === 0, checks, failing };
  }

  /** The in-memory state `status` and the tests read. */
  snapshot(): AgentSnapshot {
    return {
      phase: this.phase,
      node: this.selfNode.items.get(this.config.nodeName),
      watches: [...this.core, ...(this.feedWatches ?? [])].map((w) => w.stats()),
      plan: this.lastPlan,
      gateways: [...this.gateways.items.values()]
        .sort((a, b) => (a.key < b.key ? -1 : 1))
        .map((g) => {
          const signals = this.health.signals(g.key);
          const probe = this.health.get(g.key);
          return { pod: g, ...(probe ? { probe } : {}), ...(signals ? { signals } : {}), verdict: this.health.verdict(g) };
        }),
      applied: this.applied,
      feed: this.lastFeed,
      feedInSync: this.feedInSync,
      localGateways: this.localGateways().map((g) => g.key),
      dataplane: this.deps.dataplane.status?.(),
      feedServer: this.deps.feed.stats?.(),
    };
  }
}

export interface AgentSnapshot {
  readonly phase: AgentPhase;
  readonly node?: NodeInfo;
  readonly watches: readonly ReturnType<ManagedWatch['stats']>[];
  readonly plan?: SteeringPlan;
  readonly gateways: readonly { readonly pod: PodInfo; readonly probe?: ProbeRecord; readonly signals?: GatewaySignals; readonly verdict: Verdict }[];
  readonly applied?: { readonly text: string; readonly ok: boolean; readonly at: number; readonly error?: string; readonly durationMs: number };
  readonly feed?: RouteFeed;
  readonly feedInSync: boolean;
  readonly localGateways: readonly string[];
  readonly dataplane?: unknown;
  readonly feedServer?: unknown;
}
