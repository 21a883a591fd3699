/**
 * Long-lived UDP flows for the lab (no `nc` is installed), run inside a namespace:
 *
 *   serve <port>                               prints `<source address> <source port> <flow id>` for
 *                                              each datagram, once it listens `listening <port>`
 *   send <host> <port> <newEveryMs> <everyMs>  starts a new flow (a socket of its own, so a source port
 *                                              and a conntrack entry of its own) every <newEveryMs>
 *                                              until stdin says `stop-new`; each flow sends
 *                                              `flow <id>` every <everyMs> until SIGTERM. Prints
 *                                              `started <id> <epoch ms>` per flow.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createInterface } from 'node:readline';

function serve(port: number): void {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    const id = /^flow (\d+)$/.exec(msg.toString())?.[1] ?? '?';
    process.stdout.write(`${rinfo.address} ${rinfo.port} ${id}\n`);
  });
  socket.bind(port, () => process.stdout.write(`listening ${port}\n`));
  process.on('SIGTERM', () => process.exit(0));
}

function send(host: string, port: number, newEveryMs: number, everyMs: number): void {
  const flows: Socket[] = [];
  let n = 0;
  const start = (): void => {
    const id = ++n;
    const socket = createSocket('udp4');
    // A send to an address with no listener, or dropped on the way, must not end the flow.
    socket.on('error', () => undefined);
    const payload = Buffer.from(`flow ${id}`);
    const tick = (): void => {
      socket.send(payload, port, host);
    };
    tick();
    setInterval(tick, everyMs);
    flows.push(socket);
    process.stdout.write(`started ${id} ${Date.now()}\n`);
  };
  const starter = setInterval(start, newEveryMs);
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === 'stop-new') clearInterval(starter);
  });
  process.on('SIGTERM', () => process.exit(0));
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'serve') serve(Number(args[0]));
else if (cmd === 'send' && args.length === 4) send(args[0] ?? '', Number(args[1]), Number(args[2]), Number(args[3]));
else {
  process.stderr.write('usage: udp-flows serve <port> | send <host> <port> <newEveryMs> <everyMs>\n');
  process.exit(2);
}
