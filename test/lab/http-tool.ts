/**
 * A tiny HTTP tool for the lab (no curl is installed), run inside a namespace:
 *   node http-tool.js get <url> [timeoutMs]   prints the status on the first line and the body after
 *                                             it; exits 0 on any HTTP answer, 1 when none came
 *   node http-tool.js serve <port> <status> [host]
 *                                             answers every request with <status> on host (default
 *                                             0.0.0.0; "::" for IPv6 too); prints "listening <port>"
 *                                             once it listens
 */
import { createServer, request } from 'node:http';

function serve(port: number, status: number, host: string): void {
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(`status ${status}\n`);
  });
  server.listen(port, host, () => process.stdout.write(`listening ${port}\n`));
  process.on('SIGTERM', () => process.exit(0));
}

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

const [verb, arg, extra, host] = process.argv.slice(2);
if (verb === 'get' && arg) get(arg, Number(extra ?? 3000));
else if (verb === 'serve' && arg) serve(Number(arg), Number(extra ?? 200), host ?? '0.0.0.0');
else {
  process.stderr.write('usage: http-tool get <url> [timeoutMs] | http-tool serve <port> [status] [host]\n');
  process.exit(2);
}
