/**
 * Short-TCP-connection load for the `connections` benchmark, run inside a lab namespace with
 * `ip netns exec NS node conn-load.js ...` (no external load tool is installed):
 *
 *   serve <host> <port>
 *       echo server: echoes what arrives, then closes its side once the peer has sent its bytes;
 *       prints "listening" once it listens and nothing per connection (it must not block on a full
 *       stdout pipe under thousands of connections per second)
 *   load <host> <port> <concurrency> <seconds> <max-connections> <timeout-ms>
 *       keeps <concurrency> connections in flight for <seconds>: each connects, sends 16 bytes,
 *       reads the 16 echoed bytes and the server's close, then closes. Stops starting new ones after
 *       <seconds> or <max-connections>, whichever comes first; a connection with no complete echo
 *       within <timeout-ms> is a failure. Prints one JSON line: completed (inside the window),
 *       late (completed after it), slow (took ≥ 1 s: a SYN or segment was retransmitted), failed,
 *       failures by error code, window seconds.
 *
 * The server closes first, so TIME_WAIT lands on the server's side and the client's ephemeral ports
 * are not what runs out; SNAT port or conntrack trouble on the path shows up as failures.
 */
import { createConnection, createServer, type Socket } from 'node:net';

const PAYLOAD = Buffer.from('egress-gw-bench!'); // 16 bytes
const SLOW_MS = 1_000;

function serve(host: string, port: number): void {
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    let got = 0;
    socket.on('data', (chunk: Buffer) => {
      socket.write(chunk);
      got += chunk.length;
      if (got >= PAYLOAD.length) socket.end();
    });
    socket.on('end', () => socket.end());
  });
  server.on('error', (err) => {
    process.stderr.write(`conn-load serve: ${err.message}\n`);
    process.exit(1);
  });
  // A deep backlog: a burst of SYNs must not be dropped by the listener rather than the path.
  server.listen({ host, port, backlog: 4096 }, () => process.stdout.write('listening\n'));
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** What `load` prints as JSON, read back by bench/connections.ts. */
export interface LoadResult {
  completed: number;
  late: number;
  slow: number;
  failed: number;
  failures: Record<string, number>;
  seconds: number;
}

function oneConnection(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    // Assigned below, after finish() (which reads it) is defined.
    // eslint-disable-next-line prefer-const
    let socket: Socket | undefined;
    const finish = (why: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (why === undefined) socket?.end();
      else socket?.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => finish('TIMEOUT'), timeoutMs);
    let echoed = 0;
    socket = createConnection({ host, port }, () => socket?.write(PAYLOAD));
    socket.on('data', (chunk: Buffer) => {
      echoed += chunk.length;
    });
    // The server closes after echoing: the whole echo and a clean close is one completed connection.
    socket.on('end', () => finish(echoed >= PAYLOAD.length ? undefined : 'SHORT_ECHO'));
    socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? 'ERROR'));
  });
}

async function load(host: string, port: number, concurrency: number, seconds: number, max: number, timeoutMs: number): Promise<void> {
  const result: LoadResult = { completed: 0, late: 0, slow: 0, failed: 0, failures: {}, seconds };
  const start = Date.now();
  const deadline = start + seconds * 1000;
  let started = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < deadline && started < max) {
      started++;
      const t0 = Date.now();
      const why = await oneConnection(host, port, timeoutMs);
      // Linux retransmits a SYN after 1 s: a connection this slow lost a packet on the way.
      if (Date.now() - t0 >= SLOW_MS) result.slow++;
      if (why !== undefined) {
        result.failed++;
        result.failures[why] = (result.failures[why] ?? 0) + 1;
      } else if (Date.now() <= deadline) result.completed++;
      else result.late++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  process.stdout.write(JSON.stringify(result) + '\n');
}

function int(text: string | undefined, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`conn-load: ${what} must be a positive integer, got ${String(text)}\n`);
    process.exit(2);
  }
  return n;
}

const [mode, host, port, ...rest] = process.argv.slice(2);
if (mode === 'serve' && host) serve(host, int(port, 'port'));
else if (mode === 'load' && host) {
  const [c, s, m, t] = rest;
  void load(host, int(port, 'port'), int(c, 'concurrency'), int(s, 'seconds'), int(m, 'max-connections'), int(t, 'timeout-ms'));
} else {
  process.stderr.write('usage: conn-load serve <host> <port> | load <host> <port> <concurrency> <seconds> <max> <timeout-ms>\n');
  process.exit(2);
}
