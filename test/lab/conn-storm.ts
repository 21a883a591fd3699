/**
 * A stream of new TCP connections for the lab, run inside a namespace:
 *   node conn-storm.js <host> <port> <everyMs> <timeoutMs>
 * Every <everyMs> it opens a new connection (so every one is a new conntrack entry that the gateway
 * must SNAT), sends one line and waits up to <timeoutMs> for the echo. Prints one line per
 * connection as it ends: `ok <n> <epoch ms>` or `fail <n> <epoch ms> <why>`. Runs until SIGTERM.
 */
import { createConnection } from 'node:net';

const [host = '', portText = '', everyText = '', timeoutText = ''] = process.argv.slice(2);
const port = Number(portText);
const every = Number(everyText);
const timeoutMs = Number(timeoutText);
let n = 0;

function attempt(id: number): void {
  let done = false;
  const finish = (line: string): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.destroy();
    process.stdout.write(`${line}\n`);
  };
  const socket = createConnection({ host, port });
  const timer = setTimeout(() => finish(`fail ${id} ${Date.now()} no echo within ${timeoutMs} ms`), timeoutMs);
  let got = '';
  socket.setEncoding('utf8');
  socket.on('connect', () => socket.write(`hello ${id}\n`));
  socket.on('data', (c: string) => {
    got += c;
    if (got.includes('\n')) finish(`ok ${id} ${Date.now()}`);
  });
  socket.on('error', (err) => finish(`fail ${id} ${Date.now()} ${err.message}`));
}

const tick = setInterval(() => attempt(++n), every);
process.on('SIGTERM', () => {
  clearInterval(tick);
  process.exit(0);
});
