/**
 * Simulated client-node agents for the gateway's readiness streams (docs/benchmarks.md, failover):
 *   node stream-load.js <url> <count> <heartbeatMs>
 * opens <count> streams (GET <url>?heartbeatMs=…, one connection each, as one agent per node
 * would), prints "open <count>" once every stream has its first state line, and on SIGTERM prints
 * one JSON line: streams still open, lines received, and the gaps between lines per stream (the
 * largest, and the 99th percentile over all gaps), which is what a client's heartbeat watchdog sees.
 */
import { request, type ClientRequest } from 'node:http';

function main([url = '', countText = '1000', heartbeatText = '1000']: string[]): void {
  const count = Number(countText);
  let ready = 0;
  let open = 0;
  let lines = 0;
  let failed = 0;
  const gaps: number[] = [];
  let maxGap = 0;
  const streams: ClientRequest[] = [];
  for (let i = 0; i < count; i++) {
    let first = true;
    let last = 0;
    let buffer = '';
    const req = request(`${url}?heartbeatMs=${heartbeatText}`, { agent: false }, (res) => {
      open++;
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buffer += c;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          buffer = buffer.slice(nl + 1);
          const now = performance.now();
          lines++;
          if (first) {
            first = false;
            if (++ready === count) process.stdout.write(`open ${count}\n`);
          } else {
            const gap = now - last;
            if (gaps.length < 2_000_000) gaps.push(gap);
            if (gap > maxGap) maxGap = gap;
          }
          last = now;
        }
      });
      res.on('close', () => open--);
    });
    req.on('error', () => {
      failed++;
    });
    req.end();
    streams.push(req);
  }
  process.on('SIGTERM', () => {
    const sorted = gaps.sort((a, b) => a - b);
    const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? NaN;
    process.stdout.write(`${JSON.stringify({ open, lines, failed, maxGapMs: maxGap, p99GapMs: p99 })}\n`);
    for (const r of streams) r.destroy();
    setImmediate(() => process.exit(0));
  });
}

main(process.argv.slice(2));
