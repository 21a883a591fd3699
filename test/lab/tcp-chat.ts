/**
 * One long-lived TCP connection for the lab, run inside a namespace:
 *   node tcp-chat.js <host> <port> <durationMs> <everyMs>
 * Sends a numbered line every <everyMs> over the same connection to an echo server and prints
 * "echo N" as each comes back. Exits 0 when the duration is over and every line came back, 1 when
 * the connection breaks or a line is not echoed within 3 s.
 */
import { createConnection } from 'node:net';

const [host = '', portText = '', durationText = '', everyText = ''] = process.argv.slice(2);
const duration = Number(durationText);
const every = Number(everyText);
const socket = createConnection({ host, port: Number(portText) });
let sent = 0;
let received = 0;
let buffer = '';
let lastEchoAt = Date.now();

function fail(why: string): never {
  process.stderr.write(`tcp-chat: ${why} (sent ${sent}, echoed ${received})\n`);
  process.exit(1);
}

socket.setEncoding('utf8');
socket.on('error', (err) => fail(err.message));
socket.on('close', () => fail('connection closed'));
socket.on('data', (chunk: string) => {
  buffer += chunk;
  let nl: number;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    buffer = buffer.slice(nl + 1);
    received++;
    lastEchoAt = Date.now();
    process.stdout.write(`echo ${received}\n`);
  }
});
socket.on('connect', () => {
  const started = Date.now();
  const tick = setInterval(() => {
    if (sent > received && Date.now() - lastEchoAt > 3000) fail('a line was not echoed within 3 s');
    if (Date.now() - started >= duration) {
      if (received === sent) {
        clearInterval(tick);
        socket.removeAllListeners('close');
        socket.end();
        process.stdout.write(`done ${received}\n`);
        process.exit(0);
      }
      return;
    }
    sent++;
    socket.write(`line ${sent}\n`);
  }, every);
});
