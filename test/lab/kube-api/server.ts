import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeApiError, KubeStore, RESOURCES, type Filter, type KubeObject, type ResourceType } from './store';
import { parseFieldSelector, parseLabelSelector, SelectorSyntaxError } from './selectors';

/**
 * A stand-in for the Kubernetes API server, for tests and the demo: no real API server can run on
 * these machines. It speaks the parts of the REST API the agent uses, over real HTTP, with their real
 * semantics (see README.md in this folder):
 *   GET    /api/v1/pods, /api/v1/namespaces/NS/pods, /api/v1/namespaces, /api/v1/nodes,
 *          /apis/crd.projectcalico.org/v1/{ipamblocks,ippools,blockaffinities}   list (JSON)
 *          ... ?watch=1|true&resourceVersion=RV[&allowWatchBookmarks=true][&timeoutSeconds=N]
 *              a stream of JSON lines {type: ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, object}
 *          labelSelector= and fieldSelector= on both, as the API server filters them
 *   GET/PUT/PATCH(merge)/DELETE on one object, POST on a collection
 * A watch from a resourceVersion the history no longer holds gets an ERROR event with a 410
 * Status (reason Expired), then the stream ends, as a real API server does.
 *
 * Test hooks (methods, and the same as HTTP POSTs on /_test/... for the process form):
 *   cutWatches()   destroy every open watch connection mid-stream
 *   compact()      forget the change history: watches from older versions get 410
 *   failNext(n)    answer the next n list requests with 500
 */
export interface KubeApiServerOptions {
  readonly port?: number;
  readonly host?: string;
  /** How often a watch that asked for bookmarks gets one (the real API server: about once a minute). */
  readonly bookmarkIntervalMs?: number;
  readonly historyLimit?: number;
}

interface OpenWatch {
  readonly plural: string;
  readonly res: ServerResponse;
  readonly socket: Socket;
  stop(): void;
}

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** The Accept header, when the client sent one. */
  readonly accept?: string;
}

/**
 * What an Accept header asks for, as the API server negotiates it: `metadata` when its first usable
 * entry is JSON `as=<kind>;g=meta.k8s.io;v=v1` (PartialObjectMetadata for a watch and a single
 * object, PartialObjectMetadataList for a list), `json` when a plain JSON entry comes first (or
 * there is no header), `unacceptable` when neither is offered (406, as the real server answers).
 */
export function negotiate(accept: string | undefined, want: 'PartialObjectMetadata' | 'PartialObjectMetadataList'): 'metadata' | 'json' | 'unacceptable' {
  if (accept === undefined || accept.trim() === '') return 'json';
  for (const entry of accept.split(',')) {
    const [type = '', ...params] = entry.split(';').map((p) => p.trim());
    if (type !== 'application/json' && type !== '*/*' && type !== 'application/*') continue;
    const p = Object.fromEntries(params.map((kv) => kv.split('=').map((x) => x.trim()) as [string, string]));
    if (p.as === undefined) return 'json';
    if (p.as === want && p.g === 'meta.k8s.io' && p.v === 'v1') return 'metadata';
  }
  return 'unacceptable';
}

/** An object as `as=PartialObjectMetadata` returns it: type and metadata, nothing else. */
function partial(o: KubeObject): KubeObject {
  return { apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadata', metadata: o.metadata };
}

export class KubeApiServer {
  readonly store: KubeStore;
  /** Every request, in order: tests check what the client asked for (selectors, resourceVersions, watch vs list). */
  readonly requests: RequestRecord[] = [];
  private server: Server | undefined;
  private readonly watches = new Set<OpenWatch>();
  private failLists = 0;
  private readonly bookmarkIntervalMs: number;

  private constructor(private readonly options: KubeApiServerOptions) {
    this.store = new KubeStore(options.historyLimit);
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 5_000;
  }

  static async start(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
    const s = new KubeApiServer(options);
    await s.listen();
    return s;
  }

  get url(): string {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (!a) throw new Error('kube-api: not listening');
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  /** A kubeconfig that points the real client library at this server (plain HTTP, a dummy token). */
  kubeconfig(): string {
    return kubeconfigFor(this.url);
  }

  get openWatches(): number {
    return this.watches.size;
  }

  /** Open watches per resource, for tests that wait for the agent to be watching. */
  watchesOf(plural: string): number {
    return [...this.watches].filter((w) => w.plural === plural).length;
  }

  cutWatches(): number {
    const n = this.watches.size;
    for (const w of [...this.watches]) {
      w.stop();
      w.socket.destroy();
    }
    return n;
  }

  compact(): void {
    this.store.compact();
  }

  failNext(n: number): void {
    this.failLists = n;
  }

  private listen(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.sendError(res, err));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    this.cutWatches();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const query = Object.fromEntries(url.searchParams);
    const accept = req.headers.accept;
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query, ...(accept !== undefined ? { accept } : {}) });
    if (url.pathname.startsWith('/_test/')) {
      this.testHook(url.pathname, res);
      return;
    }
    const route = parsePath(url.pathname);
    if (!route) throw new KubeApiError(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    const { type, namespace, name } = route;
    const method = req.method ?? 'GET';
    if (name === undefined) {
      if (method === 'GET') {
        const filter: Filter = {
          ...(namespace !== undefined ? { namespace } : {}),
          labels: parseLabelSelector(query.labelSelector),
          fields: parseFieldSelector(query.fieldSelector, type.fields),
        };
        const watch = query.watch === '1' || query.watch === 'true';
        const form = negotiate(accept, watch ? 'PartialObjectMetadata' : 'PartialObjectMetadataList');
        if (form === 'unacceptable') throw new KubeApiError(406, 'NotAcceptable', `only the following media types are accepted: application/json (asked for ${accept ?? ''})`);
        if (watch) {
          this.serveWatch(type, filter, query, req, res, form === 'metadata');
          return;
        }
        if (this.failLists > 0) {
          this.failLists--;
          throw new KubeApiError(500, 'InternalError', 'injected failure (failNext)');
        }
        const list = this.store.list(type.plural, filter);
        if (form === 'metadata') {
          sendJson(res, 200, { apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadataList', metadata: { resourceVersion: list.resourceVersion }, items: list.items.map(partial) });
          return;
        }
        sendJson(res, 200, {
          apiVersion: type.group === '' ? type.version : `${type.group}/${type.version}`,
          kind: `${type.kind}List`,
          metadata: { resourceVersion: list.resourceVersion },
          items: list.items,
        });
        return;
      }
      if (method === 'POST') {
        const body = (await readJson(req)) as KubeObject;
        if (namespace !== undefined) body.metadata = { ...body.metadata, namespace };
        sendJson(res, 201, this.store.create(type.plural, body));
        return;
      }
      throw new KubeApiError(405, 'MethodNotAllowed', `${method} is not allowed on a collection`);
    }
    switch (method) {
      case 'GET':
        sendJson(res, 200, this.store.get(type.plural, namespace, name));
        return;
      case 'PUT': {
        const body = (await readJson(req)) as KubeObject;
        body.metadata = { ...body.metadata, name, ...(namespace !== undefined ? { namespace } : {}) };
        sendJson(res, 200, this.store.replace(type.plural, body));
        return;
      }
      case 'PATCH':
        sendJson(res, 200, this.store.patch(type.plural, namespace, name, await readJson(req)));
        return;
      case 'DELETE': {
        const grace = Number(query.gracePeriodSeconds ?? '0');
        if (type.plural === 'pods' && grace > 0) {
          // A graceful delete: the kubelet would stop the pod first; here it goes after the grace period.
          const marked = this.store.markDeleting(type.plural, namespace, name);
          setTimeout(() => {
            if (this.store.tryGet(type.plural, namespace, name)) this.store.delete(type.plural, namespace, name);
          }, grace * 1000).unref();
          sendJson(res, 200, marked);
          return;
        }
        sendJson(res, 200, this.store.delete(type.plural, namespace, name));
        return;
      }
      default:
        throw new KubeApiError(405, 'MethodNotAllowed', `${method} is not allowed`);
    }
  }

  private serveWatch(type: ResourceType, filter: Filter, query: Record<string, string>, req: IncomingMessage, res: ServerResponse, metadataOnly: boolean): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache' });
    // The API server answers a watch at once, before any event (Node would hold the headers until the first write).
    res.flushHeaders();
    const write = (e: { type: string; object: unknown }): void => {
      // Bookmarks and errors keep their own shape; objects are cut down to metadata when asked.
      const object = metadataOnly && (e.type === 'ADDED' || e.type === 'MODIFIED' || e.type === 'DELETED') ? partial(e.object as KubeObject) : e.object;
      res.write(`${JSON.stringify({ type: e.type, object })}\n`);
    };
    const from = query.resourceVersion ?? '';
    let lastRv = from === '' || from === '0' ? this.store.resourceVersion : from;
    const handle = this.store.watch(type.plural, from, filter, (e) => {
      lastRv = e.object.metadata.resourceVersion ?? lastRv;
      write(e);
    });
    if (!handle) {
      write({
        type: 'ERROR',
        object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.store.resourceVersion})`, reason: 'Expired', code: 410 },
      });
      res.end();
      return;
    }
    const timers: NodeJS.Timeout[] = [];
    if (query.allowWatchBookmarks === 'true' || query.allowWatchBookmarks === '1') {
      const apiVersion = type.group === '' ? type.version : `${type.group}/${type.version}`;
      // A bookmark carries the store's current version: every change up to it has been sent, or did not match.
      timers.push(
        setInterval(() => {
          lastRv = this.store.resourceVersion;
          write({ type: 'BOOKMARK', object: { kind: type.kind, apiVersion, metadata: { resourceVersion: lastRv } } });
        }, this.bookmarkIntervalMs),
      );
    }
    const timeout = Number(query.timeoutSeconds ?? '0');
    if (timeout > 0) timers.push(setTimeout(() => res.end(), timeout * 1000));
    const w: OpenWatch = {
      plural: type.plural,
      res,
      socket: req.socket,
      stop: () => {
        handle.stop();
        for (const t of timers) clearTimeout(t);
        this.watches.delete(w);
      },
    };
    this.watches.add(w);
    res.on('close', () => w.stop());
  }

  private testHook(path: string, res: ServerResponse): void {
    switch (path) {
      case '/_test/cut':
        return sendJson(res, 200, { cut: this.cutWatches() });
      case '/_test/compact':
        this.compact();
        return sendJson(res, 200, { compacted: this.store.resourceVersion });
      default:
        throw new KubeApiError(404, 'NotFound', `no test hook ${path}`);
    }
  }

  private sendError(res: ServerResponse, err: unknown): void {
    const status = err instanceof KubeApiError ? err.status : err instanceof SelectorSyntaxError ? 400 : 500;
    const reason = err instanceof KubeApiError ? err.reason : err instanceof SelectorSyntaxError ? 'BadRequest' : 'InternalError';
    const message = err instanceof Error ? err.message : String(err);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, status, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code: status });
  }
}

function parsePath(path: string): { type: ResourceType; namespace?: string; name?: string } | undefined {
  const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
  let rest: string[];
  let group = '';
  if (parts[0] === 'api' && parts[1] === 'v1') rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 3) {
    group = parts[1] as string;
    rest = parts.slice(3);
  } else return undefined;
  const find = (plural: string | undefined): ResourceType | undefined => RESOURCES.find((r) => r.plural === plural && r.group === group);
  // /namespaces/NS/<plural>[/name] is a namespaced resource; /namespaces[/NS] the namespaces themselves.
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const type = find(rest[2]);
    if (!type || !type.namespaced || rest.length > 4) return undefined;
    return { type, namespace: rest[1] as string, ...(rest[3] !== undefined ? { name: rest[3] } : {}) };
  }
  const type = find(rest[0]);
  if (!type || rest.length > 2) return undefined;
  return { type, ...(rest[1] !== undefined ? { name: rest[1] } : {}) };
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'));
      } catch {
        reject(new KubeApiError(400, 'BadRequest', 'the body is not JSON'));
      }
    });
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function kubeconfigFor(server: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: stand-in',
    '  cluster:',
    `    server: ${server}`,
    // The client library refuses plain HTTP unless told the connection is not verified; the stand-in has no TLS.
    '    insecure-skip-tls-verify: true',
    'users:',
    '- name: agent',
    '  user:',
    '    token: stand-in-token',
    'contexts:',
    '- name: stand-in',
    '  context:',
    '    cluster: stand-in',
    '    user: agent',
    'current-context: stand-in',
    '',
  ].join('\n');
}
