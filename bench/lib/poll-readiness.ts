/**
 * Polls a readiness URL every INTERVAL ms from inside a namespace (a Node process cannot enter one,
 * so the benchmark starts this under `ip netns exec`) and prints one JSON line per change of
 * status: {"at": epoch ms, "status": 200 | 503 | 0 (no answer)}. Keep-alive, so a poll costs no
 * connection setup. Usage: node poll-readiness.js URL INTERVAL_MS
 */
import { Agent, get } from 'node:http';

const [url = '', intervalText = '10'] = process.argv.slice(2);
const interval = Number(intervalText);
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
let last: number | undefined;

function poll(): void {
  const at = performance.timeOrigin + performance.now();
  const report = (status: number): void => {
    if (status !== last) {
      last = status;
      process.stdout.write(`${JSON.stringify({ at, status })}\n`);
    }
    setTimeout(poll, interval);
  };
  const req = get(url, { agent, timeout: 1000 }, (res) => {
    res.resume();
    res.on('end', () => report(res.statusCode ?? 0));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => report(0));
}

poll();
