import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { clientBlockRoute, prepareGateway, untilReady } from '../lab/gateway';
import { withLab, type Lab } from '../lab/lab';

/**
 * The health server of a real running daemon, attacked from inside the pod network (issue 7):
 * unknown paths, other methods, oversized and slow requests; no internals in any answer. The unit
 * tests drive the app in memory; this holds the listening daemon to the same.
 */

const raw = (...args: string[]): string[] => [process.execPath, join(__dirname, 'helpers', 'raw-http.js'), ...args];

async function send(lab: Lab, request: string): Promise<{ status: number; head: string; body: string }> {
  const res = await lab.exec(lab.names.gwpod, raw('send', lab.addrs.gwpod, '8080', Buffer.from(request, 'latin1').toString('base64')));
  const [head = '', body = ''] = res.stdout.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body };
}

describe('health server of a running daemon', () => {
  it('404 for unknown paths, 405 for other methods, 413/431 for oversized requests, slow clients cut off, no internals', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        const daemon = gw.startDaemon();
        await untilReady(gw, 'ready');
        const cases: Array<{ name: string; request: string; status: number; header?: RegExp }> = [
          { name: 'unknown path', request: 'GET /admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', status: 404 },
          { name: 'path traversal', request: 'GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', status: 404 },
          { name: 'POST to readiness', request: 'POST /readiness HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', status: 405, header: /^allow: GET, HEAD$/im },
          { name: 'DELETE metrics', request: 'DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', status: 405 },
          { name: 'PUT elsewhere', request: 'PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', status: 404 },
          { name: 'declared huge body', request: 'GET /readiness HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n', status: 413 },
          { name: 'huge header', request: `GET /readiness HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`, status: 431 },
          { name: 'garbage request line', request: 'HELLO THERE\r\n\r\n', status: 400 },
          { name: 'HEAD readiness', request: 'HEAD /readiness HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', status: 200 },
        ];
        for (const c of cases) {
          const res = await send(lab, c.request);
          assert.equal(res.status, c.status, `${c.name}: ${res.head}`);
          if (c.header) assert.match(res.head, c.header, c.name);
          assert.doesNotMatch(res.body, /\bat \S+ \(|node_modules|\/work\/|\.js:\d+|Error:|stack/i, `${c.name}: no internals in the body: ${res.body}`);
          // The app's own answers are {"error": "..."}; Node's parser errors (400, 431) come through
          // fastify's client-error handler with a fixed message: JSON either way, nothing of ours in it.
          if (c.status >= 400 && res.body !== '') assert.ok('error' in (JSON.parse(res.body) as object), `${c.name}: ${res.body}`);
        }

        // Slowloris: a header byte every 500 ms is never a complete request; the server hangs up
        // (headers timeout 5 s) long before the 20 s this client would keep going.
        const slow = await lab.exec(lab.names.gwpod, raw('trickle', lab.addrs.gwpod, '8080', '500', '20000'), { timeoutMs: 30_000 });
        assert.match(slow.stdout, /^closed after \d+ bytes/, slow.stdout);
        assert.ok(Number(/after (\d+) bytes/.exec(slow.stdout)?.[1]) < 30, slow.stdout);

        assert.equal((await gw.health('/readiness'))?.status, 200, 'still serving');
        assert.equal(daemon.exitCode, null);
        assert.equal(gw.logs.filter((l) => /"level":"(error|fatal)"/.test(l)).join('\n'), '', 'nothing logged as an error');
      } finally {
        await gw.close();
      }
    }));
});
