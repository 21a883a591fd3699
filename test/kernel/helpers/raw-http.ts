/**
 * Raw HTTP for the health-server tests, run inside a namespace (no curl in the lab):
 *   node raw-http.js send <host> <port> <request, base64>   writes the bytes, prints what came back
 *   node raw-http.js trickle <host> <port> <everyMs> <maxMs> sends a request line and then one header
 *                                                            byte every <everyMs>; prints "closed after
 *                                                            N bytes" when the server hangs up, or
 *                                                            "still open" after <maxMs>
 * Exits 0 either way; 1 when it cannot connect.
 */
import { connect } from 'node:net';

const [verb, host = '', portText = '', a = '', b = ''] = process.argv.slice(2);
const socket = connect({ host, port: Number(portText) });
let got = '';
socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
socket.on('error', (err) => {
  if (verb === 'trickle') return; // a reset is the server hanging up too
  process.stderr.write(`raw-http: ${err.message}\n`);
  process.exit(1);
});

if (verb === 'send') {
  socket.on('connect', () => socket.write(Buffer.from(a, 'base64')));
  socket.on('close', () => {
    process.stdout.write(got);
    process.exit(0);
  });
  setTimeout(() => {
    process.stdout.write(got);
    process.exit(0);
  }, 5000);
} else if (verb === 'trickle') {
  const every = Number(a);
  const max = Number(b);
  let sent = 0;
  socket.on('connect', () => {
    socket.write('GET /readiness HTTP/1.1\r\nHost: x\r\n');
    const timer = setInterval(() => {
      socket.write('X');
      sent++;
    }, every);
    socket.on('close', () => {
      clearInterval(timer);
      process.stdout.write(`closed after ${sent} bytes\n${got}`);
      process.exit(0);
    });
    setTimeout(() => {
      process.stdout.write(`still open after ${sent} bytes\n`);
      process.exit(0);
    }, max);
  });
} else {
  process.stderr.write('usage: raw-http send <host> <port> <base64> | raw-http trickle <host> <port> <everyMs> <maxMs>\n');
  process.exit(2);
}
