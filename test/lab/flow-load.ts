/**
 * Long-lived TCP flows under load for the lab, each knowing which gateway carries it. Run inside a
 * namespace with `ip netns exec NS node flow-load.js ...`:
 *
 *   serve <port>
 *       echo server: answers each line with "<source address the server sees> <line>", so a client
 *       learns the egress IP its flow leaves with. Prints "listening <port>".
 *   flows <host> <port> <flows> <everyMs> [timeoutMs]
 *       opens <flows> connections, then on each sends a numbered line every <everyMs> and expects
 *       its echo within timeoutMs (default 2000). Prints "ready <n>" once all are open and runs until
 *       SIGTERM or SIGINT; then prints one JSON line (FlowReport).
 *
 * A flow fails when its connection breaks, is reset, or an echo is late: what happens to a flow
 * whose packets move to another gateway mid-connection (that gateway has no NAT state for it, and
 * the server answers its packets with a reset). A flow whose echoes name a second address moved.
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface FlowReport {
  readonly flows: number;
  readonly opened: number;
  readonly failed: number;
  /** Flows whose echoes named more than one source address. */
  readonly moved: number;
  readonly echoes: number;
  /** Flows by the source address the server saw (the gateway that carries them), failed ones included. */
  readonly byGateway: Record<string, number>;
  /** Failed flows by the gateway that carried them ("?" when none was learnt). */
  readonly failedByGateway: Record<string, number>;
  readonly errors: readonly string[];
}

function serve(port: number): void {
  const server = createServer((socket) => {
    const peer = socket.remoteAddress ?? '?';
    let buffer = '';
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        socket.write(`${peer} ${buffer.slice(0, nl)}\n`);
        buffer = buffer.slice(nl + 1);
      }
    });
    socket.on('error', () => socket.destroy());
  });
  server.on('error', (err) => {
    process.stderr.write(`flow-load serve: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(port, '0.0.0.0', () => process.stdout.write(`listening ${port}\n`));
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}

interface Flow {
  readonly id: number;
  readonly socket: Socket;
  open: boolean;
  failed: boolean;
  sent: number;
  echoed: number;
  buffer: string;
  lastEchoAt: number;
  gateways: Set<string>;
}

function flows(host: string, port: number, count: number, every: number, timeoutMs: number): void {
  const errors: string[] = [];
  const all: Flow[] = [];
  let opened = 0;
  let echoes = 0;
  let stopping = false;

  const failFlow = (f: Flow, why: string): void => {
    if (f.failed || stopping) return;
    f.failed = true;
    errors.push(`flow ${f.id} via ${[...f.gateways].join('+') || '?'}: ${why} (sent ${f.sent}, echoed ${f.echoed})`);
    f.socket.destroy();
  };

  for (let id = 0; id < count; id++) {
    const socket = createConnection({ host, port });
    const f: Flow = { id, socket, open: false, failed: false, sent: 0, echoed: 0, buffer: '', lastEchoAt: Date.now(), gateways: new Set() };
    all.push(f);
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('connect', () => {
      f.open = true;
      f.lastEchoAt = Date.now();
      // A first line at once teaches the flow its gateway before the first tick.
      f.sent++;
      socket.write(`flow ${f.id} line ${f.sent}\n`);
      if (++opened === count) process.stdout.write(`ready ${opened}\n`);
    });
    socket.on('data', (chunk: string) => {
      f.buffer += chunk;
      let nl: number;
      while ((nl = f.buffer.indexOf('\n')) >= 0) {
        const line = f.buffer.slice(0, nl);
        f.buffer = f.buffer.slice(nl + 1);
        f.gateways.add(line.slice(0, line.indexOf(' ')));
        f.echoed++;
        echoes++;
        f.lastEchoAt = Date.now();
      }
    });
    socket.on('error', (err) => failFlow(f, err.message));
    socket.on('close', () => failFlow(f, 'closed'));
  }

  const ticker = setInterval(() => {
    const now = Date.now();
    for (const f of all) {
      if (!f.open || f.failed) continue;
      if (f.sent > f.echoed && now - f.lastEchoAt > timeoutMs) {
        failFlow(f, `no echo for ${now - f.lastEchoAt} ms`);
        continue;
      }
      f.sent++;
      f.socket.write(`flow ${f.id} line ${f.sent}\n`);
    }
  }, every);

  const finish = (): void => {
    if (stopping) return;
    const now = Date.now();
    for (const f of all) if (f.open && !f.failed && f.sent > f.echoed && now - f.lastEchoAt > timeoutMs) failFlow(f, `no echo for ${now - f.lastEchoAt} ms`);
    for (const f of all) if (!f.open && !f.failed) failFlow(f, 'never connected');
    stopping = true;
    clearInterval(ticker);
    const byGateway: Record<string, number> = {};
    const failedByGateway: Record<string, number> = {};
    for (const f of all) {
      const gw = [...f.gateways].join('+') || '?';
      byGateway[gw] = (byGateway[gw] ?? 0) + 1;
      if (f.failed) failedByGateway[gw] = (failedByGateway[gw] ?? 0) + 1;
    }
    const report: FlowReport = {
      flows: count,
      opened,
      failed: all.filter((f) => f.failed).length,
      moved: all.filter((f) => f.gateways.size > 1).length,
      echoes,
      byGateway,
      failedByGateway,
      errors,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    for (const f of all) f.socket.destroy();
    setImmediate(() => process.exit(0));
  };
  process.on('SIGTERM', finish);
  process.on('SIGINT', finish);
}

function main(argv: string[]): void {
  const [cmd, ...rest] = argv;
  if (cmd === 'serve' && rest[0]) return serve(Number(rest[0]));
  if (cmd === 'flows' && rest.length >= 4) return flows(rest[0] as string, Number(rest[1]), Number(rest[2]), Number(rest[3]), Number(rest[4] ?? 2000));
  process.stderr.write('usage: flow-load serve <port> | flows <host> <port> <flows> <everyMs> [timeoutMs]\n');
  process.exit(2);
}

if (require.main === module) main(process.argv.slice(2));
