/**
 * A tiny HTTP client for the lab (no curl is installed), run inside a namespace with
 * `ip netns exec NS node http-tool.js get <url> [timeoutMs]`: prints the status on the first line
 * and the body after it; exits 0 on any HTTP answer, 1 when none came (refused, timeout).
 */
import { request } from 'node:http';

function get(url: string, timeoutMs: number): void {
  const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      process.stdout.write(`${res.statusCode ?? 0}\n${Buffer.concat(chunks).toString('utf8')}`);
      process.exit(0);
    });
  });
  req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
  req.on('error', (err) => {
    process.stderr.write(`http-tool: ${err.message}\n`);
    process.exit(1);
  });
  req.end();
}

const [verb, url, ms] = process.argv.slice(2);
if (verb !== 'get' || !url) {
  process.stderr.write('usage: http-tool get <url> [timeoutMs]\n');
  process.exit(2);
}
get(url, Number(ms ?? 3000));
