import * as http from 'node:http';
import * as https from 'node:https';
import { VERSION } from '../version';
import type { ProbeTarget } from './probe-runner';

/**
 * The port for HTTP probes: GET `url`, resolve with the status of any HTTP response (a 500 still
 * proves the path out works), reject when no response came. `signal` aborts the request.
 */
export type HttpGet = (url: URL, signal: AbortSignal) => Promise<number>;

/** The real adapter: node:http / node:https, a fresh connection each time (no keep-alive reuse). */
export const nodeHttpGet: HttpGet = (url, signal) =>
  new Promise<number>((resolve, reject) => {
    const get = url.protocol === 'https:' ? https.get : http.get;
    const req = get(url, { signal, agent: false, headers: { 'user-agent': `egress-gateway/${VERSION} probe` } }, (res) => {
      // Only the status line matters; drop the body and the connection.
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    req.on('error', reject);
  });

/** How logs, metrics and /readiness show a URL: without user name or password. */
export function displayUrl(url: URL): string {
  if (url.username === '' && url.password === '') return url.href;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

/** One probe target per URL, for the ProbeRunner. */
export function httpTargets(urls: readonly URL[], get: HttpGet = nodeHttpGet): ProbeTarget[] {
  return urls.map((url) => ({
    name: displayUrl(url),
    attempt: async (signal) => {
      await get(url, signal);
    },
  }));
}
