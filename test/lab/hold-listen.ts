/**
 * Preloaded into a daemon by a test (NODE_OPTIONS=--require .../hold-listen.js, HOLD_LISTEN_PORT=n) to
 * hold start-up at a known point without timing luck: the listen() on port n (the health server, started
 * before the audit and the PolicySync stream) is held, "hold-listen: holding" goes to stderr, and the listen goes
 * ahead only when the process gets SIGTERM. The test sends SIGTERM after reading that line, so the
 * signal always arrives while start() is still running. This file's own SIGTERM listener keeps Node's
 * default action (exit at once) off, so a daemon whose handlers came too late would hang, not exit.
 */
import net from 'node:net';

const port = Number(process.env['HOLD_LISTEN_PORT']);
const listen = net.Server.prototype.listen;

function portOf(args: unknown[]): number | undefined {
  const first = args[0];
  if (typeof first === 'number') return first;
  if (typeof first === 'object' && first !== null && typeof (first as { port?: unknown }).port === 'number') return (first as { port: number }).port;
  return undefined;
}

net.Server.prototype.listen = function heldListen(this: net.Server, ...args: unknown[]): net.Server {
  if (!Number.isInteger(port) || portOf(args) !== port) return (listen as (...a: unknown[]) => net.Server).apply(this, args);
  process.once('SIGTERM', () => {
    process.stderr.write('hold-listen: SIGTERM, listening\n');
    (listen as (...a: unknown[]) => net.Server).apply(this, args);
  });
  process.stderr.write(`hold-listen: holding listen on port ${port}\n`);
  return this;
} as typeof listen;
