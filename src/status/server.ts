import { chmodSync, lstatSync, mkdirSync, rmdirSync, unlinkSync, type Stats } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { ErrorCodes, GatewayError, describeCause } from '../errors';
import type { Logger } from '../observability/logger';
import { ENTRIES_PATH, checkEntriesFilter, type EntriesDocument, type EntriesFilter } from './entries';
import { STATUS_PATH, type StatusDocument } from './model';

/**
 * The daemon's status on a local Unix socket, for `egress-gateway status`. Not on the health port:
 * that one listens on the pod IP, reachable from the whole cluster, and internals stay in the pod.
 * Access is the socket file's mode (0600, owner root): whoever may exec into the container as
 * root may read it; nobody else can connect.
 *
 * It reads in-memory state only, so it answers while the stream, the kernel or the probes are failing.
 */

export interface StatusAppDeps {
  /** Builds the document; the Daemon's status(). */
  /** The gateway's StatusDocument, or the agent's (src/agent/status.ts): any JSON document with `format` and `ready`. */
  readonly status: () => StatusDocument | { readonly format: number; readonly ready: boolean };
  /** What is programmed, entry by entry (GET /status/entries?block=&node=); absent: 404. */
  readonly entries?: (filter: EntriesFilter) => EntriesDocument;
  readonly logger?: Logger;
}

/** The app without listening, so tests can drive it with inject(). GET/HEAD /status only. */
export function buildStatusApp(deps: StatusAppDeps): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: 1024,
    // A stuck client must not hold a connection (the socket is local, but the daemon is long-lived).
    connectionTimeout: 10_000,
    requestTimeout: 10_000,
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return reply.code(405).header('allow', 'GET, HEAD').send({ error: 'method not allowed' });
    }
    return undefined;
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: `not found; GET ${STATUS_PATH}` }));
  app.get(STATUS_PATH, async (_req, reply) => {
    let doc: ReturnType<StatusAppDeps['status']>;
    try {
      doc = deps.status();
    } catch (err) {
      // Local callers only: the reason is what the operator needs.
      deps.logger?.error({ component: 'status', event: 'status_failed', err }, `building the status failed: ${describeCause(err)}`);
      return reply.code(500).send({ error: `building the status failed: ${describeCause(err)}` });
    }
    reply.header('cache-control', 'no-store');
    return reply.code(200).send(doc);
  });
  const entries = deps.entries;
  if (entries) {
    app.get(ENTRIES_PATH, async (req, reply) => {
      const q = req.query as Record<string, unknown>;
      const text = (k: string): string | undefined => (typeof q[k] === 'string' ? q[k] : undefined);
      const block = text('block');
      const node = text('node');
      const filter: EntriesFilter = { ...(block !== undefined ? { block } : {}), ...(node !== undefined ? { node } : {}) };
      try {
        checkEntriesFilter(filter);
      } catch (err) {
        return reply.code(400).send({ error: describeCause(err) });
      }
      reply.header('cache-control', 'no-store');
      return reply.code(200).send(entries(filter));
    });
  }
  return app;
}

export interface StatusServer {
  readonly path: string;
  close(): Promise<void>;
}

/**
 * Listens on `path`: creates its folder (0700) when missing, replaces a stale socket left by a killed
 * daemon, refuses to take over a socket another daemon still answers on or a file that is not a
 * socket, and restricts the socket to its owner. close() removes the socket (and the folder when it
 * made it and it is empty). Failures are STATUS_SERVER_FAILED errors that name the path.
 */
export async function startStatusServer(path: string, deps: StatusAppDeps): Promise<StatusServer> {
  const fail = (why: string, cause?: unknown): GatewayError =>
    new GatewayError(ErrorCodes.STATUS_SERVER_FAILED, `serving status on ${path}: ${why}`, cause === undefined ? undefined : { cause });
  const dir = dirname(path);
  let madeDir = false;
  try {
    if (!exists(dir)) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      madeDir = true;
    }
  } catch (err) {
    throw fail(`cannot create the folder ${dir}: ${describeCause(err)} (on a read-only root filesystem, mount an emptyDir there or set STATUS_SOCKET)`, err);
  }
  const existing = statOrUndefined(path);
  if (existing) {
    if (!existing.isSocket()) throw fail('the path exists and is not a socket; not removing it');
    const live = await answers(path);
    if (live === 'live') throw fail('another process answers on this socket (a second daemon in this container?); not taking it over');
    try {
      unlinkSync(path);
    } catch (err) {
      throw fail(`cannot remove the stale socket: ${describeCause(err)}`, err);
    }
    deps.logger?.info({ component: 'status', event: 'stale_socket_removed', path }, `removed a stale status socket left by an earlier daemon: ${path}`);
  }

  const app = buildStatusApp(deps);
  let ours: Stats | undefined;
  try {
    await app.listen({ path });
    // The socket is born with the umask's mode (owner-only write with the usual 022: others cannot
    // connect even now); make it 0600 at once.
    chmodSync(path, 0o600);
    ours = lstatSync(path);
  } catch (err) {
    await app.close().catch(() => undefined);
    if (madeDir) removeEmptyDir(dir);
    throw fail(describeCause(err), err);
  }
  deps.logger?.info({ component: 'status', event: 'status_server_listening', path }, `status socket listening on ${path}`);

  // Node removes the socket file when the server closes; make sure, but only if it is still ours.
  const removeOurs = (): void => {
    const now = statOrUndefined(path);
    if (now && now.ino === ours.ino && now.dev === ours.dev) {
      try {
        unlinkSync(path);
      } catch {
        /* gone meanwhile */
      }
    }
    if (madeDir) removeEmptyDir(dir);
  };
  // Every other way out (process.exit after a second signal, a fatal error): no socket left behind.
  process.once('exit', removeOurs);
  let closing: Promise<void> | undefined;
  return {
    path,
    close: () =>
      (closing ??= (async () => {
        process.off('exit', removeOurs);
        await app.close().catch(() => undefined);
        removeOurs();
      })()),
  };
}

function exists(p: string): boolean {
  return statOrUndefined(p) !== undefined;
}

function statOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

function removeEmptyDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    /* not empty, or gone: leave it */
  }
}

/**
 * Whether something accepts connections on the socket. Refused or missing: stale. Connected, or no
 * verdict within the time (a live daemon that is busy): live, so it is never taken over.
 */
function answers(path: string, timeoutMs = 1000): Promise<'live' | 'stale'> {
  return new Promise((resolve) => {
    const sock = createConnection({ path });
    const done = (verdict: 'live' | 'stale'): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(verdict);
    };
    const timer = setTimeout(() => done('live'), timeoutMs);
    sock.once('connect', () => done('live'));
    sock.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'stale' : 'live'));
  });
}
