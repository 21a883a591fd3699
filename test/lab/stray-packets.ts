/**
 * Packets that conntrack cannot place, sent from a client pod, as real traffic has them now and then
 * (run inside the pod's namespace):
 *
 *   node stray-packets.js <own address> <server address> <port>
 *
 * It opens a real TCP connection to the server (through the gateway, so SNATed there), sends a line,
 * waits for the echo, and prints `established <local port>`. Then it reads commands on stdin:
 *
 *   crafted   raw packets conntrack marks INVALID, printed as `sent <kind> ...` each:
 *             - an ACK of the live connection with a sequence number far outside its window;
 *             - a RST, a FIN+ACK and a SYN+ACK from ports of no connection (a TCP connection's entry
 *               starts with a SYN only);
 *             - an ICMP port unreachable about a UDP datagram of a flow the gateway never saw.
 *   reset     ends the live connection with a RST (SO_LINGER 0), as an aborting client does; sent after
 *             its conntrack entry is gone (a gateway restarted, a flow moved from another gateway), the
 *             gateway finds no entry for it.
 *
 * and prints `done <command>` after each. Raw sockets need CAP_NET_RAW (the lab runs as root).
 */
import { randomInt } from 'node:crypto';
import { createConnection, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import raw from 'raw-socket';

const [src = '', dst = '', portText = ''] = process.argv.slice(2);
const port = Number(portText);

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;

function octets(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

/** A TCP header without options (the kernel's raw TCP socket adds the IP header, not the checksum). */
function tcpSegment(sport: number, dport: number, seq: number, ack: number, flags: number): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(seq >>> 0, 4);
  h.writeUInt32BE(ack >>> 0, 8);
  h.writeUInt8(5 << 4, 12);
  h.writeUInt8(flags, 13);
  h.writeUInt16BE(64240, 14);
  const pseudo = Buffer.concat([octets(src), octets(dst), Buffer.from([0, 6, 0, h.length])]);
  raw.writeChecksum(h, 16, raw.createChecksum(pseudo, h));
  return h;
}

/** An ICMP port unreachable quoting the first 28 bytes of a UDP datagram server → us. */
function portUnreachable(): Buffer {
  const inner = Buffer.alloc(28);
  inner.writeUInt8(0x45, 0);
  inner.writeUInt16BE(28 + 16, 2);
  inner.writeUInt16BE(randomInt(1, 0xffff), 4);
  inner.writeUInt8(64, 8);
  inner.writeUInt8(17, 9);
  octets(dst).copy(inner, 12);
  octets(src).copy(inner, 16);
  raw.writeChecksum(inner, 10, raw.createChecksum({ buffer: inner, offset: 0, length: 20 }));
  inner.writeUInt16BE(randomInt(20000, 30000), 20);
  inner.writeUInt16BE(randomInt(40000, 50000), 22);
  inner.writeUInt16BE(8 + 16, 24);
  const icmp = Buffer.concat([Buffer.from([3, 3, 0, 0, 0, 0, 0, 0]), inner]);
  raw.writeChecksum(icmp, 2, raw.createChecksum(icmp));
  return icmp;
}

function send(socket: raw.Socket, packet: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.send(packet, 0, packet.length, dst, (err) => (err ? reject(err) : resolve()));
  });
}

async function crafted(live: Socket): Promise<void> {
  const tcp = raw.createSocket({ protocol: raw.Protocol.TCP, addressFamily: raw.AddressFamily.IPv4 });
  const icmp = raw.createSocket({ protocol: raw.Protocol.ICMP, addressFamily: raw.AddressFamily.IPv4 });
  try {
    const lport = live.localPort ?? 0;
    // Half the sequence space away from anything sent: outside every window conntrack would accept.
    await send(tcp, tcpSegment(lport, port, randomInt(0, 2 ** 31) + 2 ** 30, randomInt(0, 2 ** 31) + 2 ** 30, TCP_ACK));
    process.stdout.write(`sent out-of-window-ack ${lport}\n`);
    const free = (): number => randomInt(50000, 60000);
    for (const [kind, flags] of [['rst', TCP_RST], ['fin-ack', TCP_FIN | TCP_ACK], ['syn-ack', TCP_SYN | TCP_ACK]] as const) {
      const sport = free();
      await send(tcp, tcpSegment(sport, port, randomInt(0, 2 ** 32), flags & TCP_ACK ? randomInt(0, 2 ** 32) : 0, flags));
      process.stdout.write(`sent ${kind} ${sport}\n`);
    }
    await send(icmp, portUnreachable());
    process.stdout.write('sent icmp-port-unreachable\n');
  } finally {
    tcp.close();
    icmp.close();
  }
}

function main(): void {
  if (!src || !dst || !Number.isInteger(port)) {
    process.stderr.write('usage: stray-packets <own address> <server address> <port>\n');
    process.exit(2);
  }
  const live = createConnection({ host: dst, port, localAddress: src });
  live.setEncoding('utf8');
  live.on('error', (err) => {
    process.stderr.write(`stray-packets: ${err.message}\n`);
    process.exit(1);
  });
  live.once('connect', () => live.write('hello\n'));
  live.once('data', () => {
    process.stdout.write(`established ${live.localPort ?? 0}\n`);
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      const cmd = line.trim();
      const done = (): void => void process.stdout.write(`done ${cmd}\n`);
      if (cmd === 'crafted') {
        crafted(live).then(done, (err: unknown) => {
          process.stderr.write(`stray-packets: ${err instanceof Error ? err.message : String(err)}\n`);
          process.exit(1);
        });
      } else if (cmd === 'reset') {
        live.resetAndDestroy();
        done();
      }
    });
    lines.once('close', () => process.exit(0));
  });
}

main();
