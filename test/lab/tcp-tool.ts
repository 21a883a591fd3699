/**
 * A tiny TCP tool for the lab (no `nc` is installed), run inside a namespace with
 * `ip netns exec NS node tcp-tool.js ...`:
 *
 *   serve <port> [host]                  echo server on host (default 0.0.0.0, all IPv4 addresses; "::"
 *                                        for IPv6 too); prints "listening <port>" once it listens and
 *                                        "peer <address> <port>" for each connection
 *   connect <host> <port> <text> [ms]    sends <text>, prints what comes back once all of it has,
 *                                        exits 1 on any error or when nothing complete arrives within
 *                                        ms (default 5000)
 */
import { createConnection, createServer } from 'node:net';

function serve(port: number, host: string): void {
  const server = createServer((socket) => {
    process.stdout.write(`peer ${socket.remoteAddress ?? '?'} ${socket.remotePort ?? '?'}\n`);
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  server.on('error', (err) => {
    process.stderr.write(`tcp-tool serve: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(port, host, () => process.stdout.write(`listening ${port}\n`));
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function connect(host: string, port: number, text: string, timeoutMs: number): void {
  const fail = (why: string): void => {
    process.stderr.write(`tcp-tool connect ${host}:${port}: ${why}\n`);
    process.exit(1);
  };
  const timer = setTimeout(() => fail(`no complete echo within ${timeoutMs} ms`), timeoutMs);
  const socket = createConnection({ host, port });
  let received = '';
  socket.setEncoding('utf8');
  socket.on('connect', () => socket.write(text));
  socket.on('data', (chunk: string) => {
    received += chunk;
    if (received.length >= text.length) {
      clearTimeout(timer);
      process.stdout.write(`${received}\n`);
      socket.end();
      socket.once('close', () => process.exit(received === text ? 0 : 1));
    }
  });
  socket.on('error', (err) => fail(err.message));
}

function main(argv: string[]): void {
  const [cmd, ...rest] = argv;
  const port = Number(rest[cmd === 'serve' ? 0 : 1]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    process.stderr.write('usage: tcp-tool serve <port> [host] | connect <host> <port> <text> [timeout-ms]\n');
    process.exit(2);
  }
  if (cmd === 'serve') serve(port, rest[1] ?? '0.0.0.0');
  else if (cmd === 'connect' && rest[0] && rest[2] !== undefined) connect(rest[0], port, rest[2], Number(rest[3] ?? 5000));
  else {
    process.stderr.write('usage: tcp-tool serve <port> [host] | connect <host> <port> <text> [timeout-ms]\n');
    process.exit(2);
  }
}

main(process.argv.slice(2));
