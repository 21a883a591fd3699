import { request } from 'node:http';
import { ErrorCodes, GatewayError, describeCause } from '../errors';
import { ENTRIES_FORMAT, ENTRIES_PATH, type EntriesDocument, type EntriesFilter } from './entries';
import { STATUS_FORMAT, STATUS_PATH, type StatusDocument } from './model';

/** Enough for a daemon under load; a daemon that takes longer is as good as unreachable for an operator. */
export const DEFAULT_STATUS_TIMEOUT_MS = 5_000;

/**
 * GET /status over the daemon's Unix socket. Every way of not getting a usable document is a
 * DAEMON_UNREACHABLE error whose message names the socket and says what to check.
 */
export function fetchStatus(socketPath: string, timeoutMs = DEFAULT_STATUS_TIMEOUT_MS): Promise<StatusDocument> {
  return fetchDocument(socketPath, STATUS_PATH, parseStatusDocument, timeoutMs);
}

/** GET /status/entries with the filter: what is programmed, entry by entry (status --entries). */
export function fetchEntries(socketPath: string, filter: EntriesFilter, timeoutMs = DEFAULT_STATUS_TIMEOUT_MS): Promise<EntriesDocument> {
  const query = new URLSearchParams({ ...(filter.block !== undefined ? { block: filter.block } : {}), ...(filter.node !== undefined ? { node: filter.node } : {}) }).toString();
  return fetchDocument(socketPath, `${ENTRIES_PATH}${query ? `?${query}` : ''}`, parseEntriesDocument, timeoutMs);
}

function parseEntriesDocument(body: string): EntriesDocument {
  const doc = JSON.parse(body) as Partial<EntriesDocument> | null;
  if (typeof doc !== 'object' || doc === null || doc.kind !== 'entries') throw new Error('not an entries document');
  if (doc.format !== ENTRIES_FORMAT) throw new Error(`format ${String(doc.format)}, this command reads format ${ENTRIES_FORMAT}`);
  return doc as EntriesDocument;
}

function fetchDocument<T>(socketPath: string, path: string, parse: (body: string) => T, timeoutMs: number): Promise<T> {
  const unreachable = (why: string, cause?: unknown): GatewayError =>
    new GatewayError(ErrorCodes.DAEMON_UNREACHABLE, `cannot get the status from ${socketPath}: ${why}`, cause === undefined ? undefined : { cause });
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', headers: { accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(unreachable(`the answer broke off: ${describeCause(err)}`, err));
      });
      res.on('end', () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          reject(unreachable(`the daemon answered HTTP ${res.statusCode ?? '?'}: ${body.slice(0, 500)}`));
          return;
        }
        try {
          resolve(parse(body));
        } catch (err) {
          reject(unreachable(`the answer is not a status document: ${describeCause(err)}`, err));
        }
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms (is the daemon stuck or overloaded?)`)), timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(unreachable(explain(err), err));
    });
    req.end();
  });
}

function explain(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'no such socket: is `egress-gateway start` running in this container, with the same STATUS_SOCKET? (the daemon logs "status socket listening on PATH" when it starts; --socket PATH asks another one)';
    case 'ECONNREFUSED':
      return 'connection refused: the socket is left over from a daemon that is no longer running';
    case 'EACCES':
    case 'EPERM':
      return "permission denied: only the socket's owner (the daemon's user, root) may connect";
    case 'ENOTSOCK':
      return 'the path is not a socket';
    default:
      return describeCause(err);
  }
}

/** Checks the few fields the CLI relies on, so a foreign server on the path is not mistaken for a daemon. */
export function parseStatusDocument(body: string): StatusDocument {
  const doc = JSON.parse(body) as Partial<StatusDocument> | null;
  if (typeof doc !== 'object' || doc === null) throw new Error('not a JSON object');
  if (doc.format !== STATUS_FORMAT) throw new Error(`format ${String(doc.format)}, this command reads format ${STATUS_FORMAT}`);
  if (typeof doc.ready !== 'boolean' || !Array.isArray(doc.failing)) throw new Error('no readiness in it');
  return doc as StatusDocument;
}
