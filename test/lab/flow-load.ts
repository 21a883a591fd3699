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
 *   probe <host> <port> [timeoutMs]
 *       one connection, one line: prints the source address the server saw and exits 0; exits 1 when
 *       it fails or no echo comes within timeoutMs (default 2000), printing why on stderr.
 *   churn <host> <port> <everyMs> <lifeMs> [timeoutMs]
 *       a new connection every <everyMs>, each living <lifeMs> with a line every 100 ms (each echo
 *       due within timeoutMs, default 5000, the connect too: a SYN lost to a dead gateway is sent
 *       again after a second), then closed. Lines "mark <name>" on stdin stamp the moments the test
 *       cares about. Prints "started" at once; on SIGTERM it starts no more, lets the open ones
 *       finish, and prints one JSON line (ChurnReport).
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

function probe(host: string, port: number, timeoutMs: number): void {
  const socket = createConnection({ host, port });
  const fail = (why: string): void => {
    process.stderr.write(`${why}\n`);
    process.exit(1);
  };
  const timer = setTimeout(() => fail(`no echo within ${timeoutMs} ms`), timeoutMs);
  let buffer = '';
  socket.setEncoding('utf8');
  socket.on('connect', () => socket.write('probe\n'));
  socket.on('data', (c: string) => {
    buffer += c;
    const nl = buffer.indexOf('\n');
    if (nl < 0) return;
    clearTimeout(timer);
    process.stdout.write(`${buffer.slice(0, buffer.indexOf(' '))}\n`);
    socket.end();
    socket.once('close', () => process.exit(0));
  });
  socket.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
}

/** One connection of a churn: when it started (ms since the churn began), its gateway, how it ended. */
export interface ChurnConnection {
  readonly at: number;
  readonly gateway?: string;
  readonly ok: boolean;
  readonly error?: string;
  /** Milliseconds to connect. */
  readonly connectMs?: number;
}

export interface ChurnReport {
  readonly connections: readonly ChurnConnection[];
  /** Marks written on stdin, by name: ms since the churn began. */
  readonly marks: Record<string, number>;
}

function churn(host: string, port: number, every: number, life: number, timeoutMs: number): void {
  const t0 = Date.now();
  const done: ChurnConnection[] = [];
  const marks: Record<string, number> = {};
  let open = 0;
  let stopping = false;
  const one = (): void => {
    const at = Date.now() - t0;
    open++;
    const socket = createConnection({ host, port });
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    let gateway: string | undefined;
    let connectMs: number | undefined;
    let finished = false;
    let sent = 0;
    let echoed = 0;
    let lastEchoAt = Date.now();
    let buffer = '';
    let ticker: NodeJS.Timeout | undefined;
    const finish = (ok: boolean, error?: string): void => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      if (ticker) clearInterval(ticker);
      done.push({ at, ...(gateway ? { gateway } : {}), ok, ...(error ? { error } : {}), ...(connectMs !== undefined ? { connectMs } : {}) });
      if (ok) socket.end();
      else socket.destroy();
      open--;
    };
    const deadline = setTimeout(() => finish(false, `not connected within ${timeoutMs} ms`), timeoutMs);
    socket.on('connect', () => {
      connectMs = Date.now() - t0 - at;
      clearTimeout(deadline);
      lastEchoAt = Date.now();
      const started = Date.now();
      const tick = (): void => {
        const now = Date.now();
        if (sent > echoed && now - lastEchoAt > timeoutMs) return finish(false, `no echo for ${now - lastEchoAt} ms`);
        if (now - started >= life) {
          if (sent === echoed) return finish(true);
          return;
        }
        sent++;
        socket.write(`line ${sent}\n`);
      };
      tick();
      ticker = setInterval(tick, 100);
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        gateway ??= line.slice(0, line.indexOf(' '));
        echoed++;
        lastEchoAt = Date.now();
      }
    });
    socket.on('error', (err) => finish(false, err.message));
    socket.on('close', () => finish(false, 'closed'));
  };
  const starter = setInterval(() => {
    if (!stopping) one();
  }, every);
  one();
  process.stdout.write('started\n');
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (c: string) => {
    input += c;
    let nl: number;
    while ((nl = input.indexOf('\n')) >= 0) {
      const line = input.slice(0, nl).trim();
      input = input.slice(nl + 1);
      const m = /^mark (\S+)$/.exec(line);
      if (m?.[1]) {
        marks[m[1]] = Date.now() - t0;
        process.stdout.write(`marked ${m[1]}\n`);
      }
    }
  });
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(starter);
    const wait = setInterval(() => {
      if (open > 0) return;
      clearInterval(wait);
      const report: ChurnReport = { connections: done.sort((a, b) => a.at - b.at), marks };
      process.stdout.write(`${JSON.stringify(report)}\n`);
      setImmediate(() => process.exit(0));
    }, 20);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function main(argv: string[]): void {
  const [cmd, ...rest] = argv;
  if (cmd === 'serve' && rest[0]) return serve(Number(rest[0]));
  if (cmd === 'flows' && rest.length >= 4) return flows(rest[0] as string, Number(rest[1]), Number(rest[2]), Number(rest[3]), Number(rest[4] ?? 2000));
  if (cmd === 'probe' && rest.length >= 2) return probe(rest[0] as string, Number(rest[1]), Number(rest[2] ?? 2000));
  if (cmd === 'churn' && rest.length >= 4) return churn(rest[0] as string, Number(rest[1]), Number(rest[2]), Number(rest[3]), Number(rest[4] ?? 5000));
  process.stderr.write('usage: flow-load serve <port> | flows <host> <port> <flows> <everyMs> [timeoutMs] | churn <host> <port> <everyMs> <lifeMs> [timeoutMs]\n');
  process.exit(2);
}

if (require.main === module) main(process.argv.slice(2));
