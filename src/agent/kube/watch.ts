import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { describeCause } from '../../errors';
import type { Clock, TimerHandle } from '../../model/clock';
import type { Logger } from '../../observability/logger';

/**
 * One resource kept in step with the API server through @kubernetes/client-node's ListWatch: list,
 * then watch from the list's resourceVersion; on 410 Gone (an ERROR event or the HTTP status) it
 * lists again; a watch that ends or breaks is re-opened from the last resourceVersion seen. Never
 * polls. What the library leaves to its user is added here:
 * - a failed list, a watch refused for another reason or a connection broken mid-stream stops the
 *   library's loop: it is restarted after a backoff (250 ms doubling to 30 s, reset by a successful
 *   list or any event), from the last resourceVersion when it has one (no list);
 * - watches ask for bookmarks (allowWatchBookmarks) so a quiet watch keeps a fresh resourceVersion
 *   and a reconnect does not fall off the server's history, and carry a server-side timeout of
 *   5-10 min (jittered, as client-go does) so connections are renewed before a proxy drops them;
 * - the first list goes to the API server's watch cache (resourceVersion=0, cheap at scale), every
 *   later one asks for the latest state (a relist after 410 must not go back in time);
 * - `synced` turns true once a list has been applied, which the agent waits for before acting.
 */
export interface WatchTarget {
  /** A short name for logs, metrics and status: "pods", "gateways". */
  readonly name: string;
  /** The collection's URL path: /api/v1/pods, /apis/crd.projectcalico.org/v1/ipamblocks. */
  readonly path: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /**
   * Ask for metadata only (PartialObjectMetadata: names, labels, annotations): a fraction of a
   * node's size (its status lists images, conditions, addresses), for a watch of the whole cluster
   * whose annotations are all that is read.
   */
  readonly metadataOnly?: boolean;
}

/** The API server's content negotiation for metadata-only lists and watches (meta.k8s.io/v1), JSON otherwise. */
export const METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
export const METADATA_WATCH_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

export interface WatchHandlers {
  upsert(raw: unknown): void;
  remove(raw: unknown): void;
  /** After every complete list (the first, and each relist): the state now matches the server's. */
  synced(): void;
}

export interface WatchStats {
  readonly name: string;
  readonly path: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly metadataOnly?: boolean;
  readonly synced: boolean;
  readonly lists: number;
  readonly connects: number;
  readonly events: number;
  readonly restarts: number;
  readonly lastError?: string;
  readonly lastErrorAt?: number;
}

export type ClientNode = typeof K8s;

export const WATCH_BACKOFF = { firstMs: 250, maxMs: 30_000 } as const;

export class ResourceWatch {
  private lw: K8s.ListWatch<K8s.KubernetesObject> | undefined;
  private stopped = true;
  private restartTimer: TimerHandle | undefined;
  private backoffMs: number = WATCH_BACKOFF.firstMs;
  private listedOnce = false;
  private stats_: { synced: boolean; lists: number; connects: number; events: number; restarts: number; lastError?: string; lastErrorAt?: number } = {
    synced: false,
    lists: 0,
    connects: 0,
    events: 0,
    restarts: 0,
  };

  constructor(
    private readonly k8s: ClientNode,
    private readonly kc: K8s.KubeConfig,
    readonly target: WatchTarget,
    private readonly handlers: WatchHandlers,
    private readonly deps: { readonly clock: Clock; readonly logger: Logger },
  ) {}

  stats(): WatchStats {
    return {
      name: this.target.name,
      path: this.target.path,
      ...(this.target.labelSelector !== undefined ? { labelSelector: this.target.labelSelector } : {}),
      ...(this.target.fieldSelector !== undefined ? { fieldSelector: this.target.fieldSelector } : {}),
      ...(this.target.metadataOnly ? { metadataOnly: true } : {}),
      ...this.stats_,
    };
  }

  get synced(): boolean {
    return this.stats_.synced;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.listedOnce = false;
    this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.restartTimer?.cancel();
    this.restartTimer = undefined;
    this.stats_.synced = false;
    const lw = this.lw;
    this.lw = undefined;
    await lw?.stop();
  }

  private run(): void {
    const lw: K8s.ListWatch<K8s.KubernetesObject> = new this.k8s.ListWatch<K8s.KubernetesObject>(
      this.target.path,
      bookmarkWatch(this.k8s, this.target.metadataOnly ? withAccept(this.kc, METADATA_WATCH_ACCEPT) : this.kc, (): boolean => this.stopped || this.lw !== lw),
      () => this.list(),
      false,
      this.target.labelSelector,
      this.target.fieldSelector,
    );
    this.lw = lw;
    lw.on('add', (o) => this.event(() => this.handlers.upsert(o)));
    lw.on('update', (o) => this.event(() => this.handlers.upsert(o)));
    lw.on('delete', (o) => this.event(() => this.handlers.remove(o)));
    lw.on('connect', () => {
      this.stats_.connects++;
    });
    lw.on('error', (err) => this.failed(lw, err));
    void lw.start().catch((err: unknown) => this.failed(lw, err));
  }

  private event(apply: () => void): void {
    this.stats_.events++;
    this.backoffMs = WATCH_BACKOFF.firstMs;
    try {
      apply();
    } catch (err) {
      this.deps.logger.error({ component: 'kube', event: 'event_failed', resource: this.target.name, err }, `applying a ${this.target.name} event failed: ${describeCause(err)}`);
    }
  }

  /** The list half: a fresh request each time, through the same client as the watch. */
  private async list(): Promise<K8s.KubernetesListObject<K8s.KubernetesObject>> {
    const query = new URLSearchParams();
    if (this.target.labelSelector !== undefined) query.set('labelSelector', this.target.labelSelector);
    if (this.target.fieldSelector !== undefined) query.set('fieldSelector', this.target.fieldSelector);
    // The first list may come from the watch cache; a relist (after 410 or an error) must be current.
    query.set('resourceVersion', this.listedOnce ? '' : '0');
    const list = await listCollection(this.k8s, this.kc, `${this.target.path}?${query.toString()}`, this.target.metadataOnly ? METADATA_LIST_ACCEPT : 'application/json');
    this.listedOnce = true;
    this.stats_.lists++;
    // The library applies the list's items right after this promise settles, synchronously, and
    // then opens the watch: by the next turn of the event loop the state matches the list.
    setImmediate(() => {
      if (this.stopped) return;
      this.backoffMs = WATCH_BACKOFF.firstMs;
      this.stats_.synced = true;
      this.handlers.synced();
    });
    return list;
  }

  private failed(lw: K8s.ListWatch<K8s.KubernetesObject>, err: unknown): void {
    if (this.stopped || lw !== this.lw) return;
    const why = describeKubeError(err);
    this.stats_.lastError = why;
    this.stats_.lastErrorAt = this.deps.clock.now();
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, WATCH_BACKOFF.maxMs);
    this.deps.logger.warn(
      { component: 'kube', event: 'watch_failed', resource: this.target.name, path: this.target.path, retryMs: delay, error: why },
      `${this.target.name}: list/watch failed (${why}); retrying in ${delay} ms`,
    );
    void lw.stop();
    this.restartTimer?.cancel();
    this.restartTimer = this.deps.clock.setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped || lw !== this.lw) return;
      this.stats_.restarts++;
      // The same ListWatch again: it keeps its resourceVersion, so a broken watch resumes where it
      // was without a list; after a failed list (or 410) it has none and lists.
      void lw.start().catch((err: unknown) => this.failed(lw, err));
    }, delay);
  }
}

/**
 * The library's Watch, asking for bookmarks and a server-side timeout on every watch request. The
 * library hands its ListWatch the request's AbortController only once the response has begun: a
 * ListWatch stopped before that (an agent stopping while a watch connects) could not abort it, and
 * the connection would stay open, holding the process, until the server's timeout. `abandoned`
 * says the request is no longer wanted; it is then aborted as soon as it can be.
 */
function bookmarkWatch(k8s: ClientNode, kc: K8s.KubeConfig, abandoned: () => boolean): K8s.Watch {
  class BookmarkWatch extends k8s.Watch {
    override async watch(
      path: string,
      query: Record<string, string | number | boolean | undefined>,
      callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
      done: (err: unknown) => void,
    ): Promise<AbortController> {
      const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
      const controller = await super.watch(path, { ...query, allowWatchBookmarks: true, timeoutSeconds }, callback, done);
      if (abandoned()) controller.abort();
      return controller;
    }
  }
  const w = new BookmarkWatch(kc);
  // The library aborts a watch that has been silent this long (30 s by default); the server's
  // bookmarks and its own timeout come well within it.
  (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 11 * 60_000;
  return w;
}

/**
 * The kubeconfig as the library's Watch uses it (the current cluster, and authentication applied to
 * each request), with an Accept header of ours added after the authentication: the library's Watch
 * takes no headers of its own.
 */
function withAccept(kc: K8s.KubeConfig, accept: string): K8s.KubeConfig {
  const wrapped = Object.create(kc) as K8s.KubeConfig;
  wrapped.applySecurityAuthentication = async (ctx) => {
    await kc.applySecurityAuthentication(ctx);
    ctx.setHeaderParam('Accept', accept);
  };
  return wrapped;
}

/**
 * GET a collection through the client library's own HTTP stack and authentication (the typed API
 * classes would convert every object to their model classes, and have no call for our CRDs that
 * keeps the list's resourceVersion in the same shape).
 */
async function listCollection(k8s: ClientNode, kc: K8s.KubeConfig, pathAndQuery: string, accept: string): Promise<K8s.KubernetesListObject<K8s.KubernetesObject>> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig names no current cluster');
  const url = `${cluster.server.replace(/\/$/, '')}${pathAndQuery}`;
  const ctx = new k8s.RequestContext(url, k8s.HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  ctx.setHeaderParam('Accept', accept);
  const response = await new k8s.IsomorphicFetchHttpLibrary().send(ctx).toPromise();
  const body = await response.body.text();
  if (response.httpStatusCode !== 200) {
    const err = new Error(`GET ${pathAndQuery}: HTTP ${response.httpStatusCode}: ${statusMessage(body)}`) as Error & { statusCode: number };
    err.statusCode = response.httpStatusCode;
    throw err;
  }
  return JSON.parse(body) as K8s.KubernetesListObject<K8s.KubernetesObject>;
}

function statusMessage(body: string): string {
  try {
    const s = JSON.parse(body) as { message?: unknown };
    if (typeof s.message === 'string') return s.message;
  } catch {
    // not a Status
  }
  return body.slice(0, 200);
}

export function describeKubeError(err: unknown): string {
  const e = err as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e.statusCode === 'number' && typeof e.message === 'string' && !e.message.includes(String(e.statusCode))) return `HTTP ${e.statusCode} ${e.message}`;
  return describeCause(err);
}
