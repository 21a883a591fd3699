/**
 * For icmp-filter.test.ts, run in a namespace with `ip netns exec`:
 *   probe <4|6> <target>: the gateway's raw ICMP socket (RawIcmpSocket), counting what it hands up
 *     by ICMP type, and a ping of <target> every 100 ms through the Pinger so that echo replies are
 *     expected. Prints a JSON line of {types, answered} when stdin says "report"; exits when stdin closes.
 *   flood <4|6> <target> <count>: <count> echo requests to <target> back to back (no `ping` needed),
 *     then prints how many were sent and answered.
 */
import { createInterface } from 'node:readline';
import * as raw from 'raw-socket';
import { Pinger, encodeEchoRequest, parseEchoReply } from '../../src/health/icmp';
import { RawIcmpSocket } from '../../src/health/raw-icmp-socket';
import { parseIp, type Family, type IpAddress } from '../../src/model/ip';

function flood(family: Family, target: IpAddress, count: number): void {
  // An unfiltered socket of its own: the flood's replies are what it counts.
  const s =
    family === 4
      ? raw.createSocket({ protocol: raw.Protocol.ICMP })
      : raw.createSocket({ protocol: raw.Protocol.ICMPv6, addressFamily: raw.AddressFamily.IPv6 });
  const id = process.pid & 0xffff;
  let answered = 0;
  s.on('message', (buffer) => {
    const reply = parseEchoReply(family, buffer);
    if (reply && reply.identifier === id) answered++;
  });
  let sent = 0;
  const payload = Buffer.alloc(16);
  const sendNext = (): void => {
    if (sent === count) {
      setTimeout(() => {
        process.stdout.write(`${JSON.stringify({ sent, answered })}\n`);
        s.close();
      }, 500);
      return;
    }
    const packet = encodeEchoRequest(family, id, sent++, payload);
    s.send(packet, 0, packet.length, target.text, (err) => {
      if (err) throw err;
      sendNext();
    });
  };
  sendNext();
}

function probe(family: Family, target: IpAddress): void {
  const socket = new RawIcmpSocket();
  const types: Record<number, number> = {};
  socket.onPacket((f, _source, packet) => {
    // IPv4 raw sockets deliver the IP header first.
    const type = f === 4 ? packet[((packet[0] ?? 0) & 0x0f) * 4] : packet[0];
    if (type !== undefined) types[type] = (types[type] ?? 0) + 1;
  });
  socket.open(family);
  const pinger = new Pinger(socket);
  let answered = 0;
  const tick = setInterval(() => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 1000);
    pinger.echo(target, controller.signal).then(
      () => {
        clearTimeout(timer);
        answered++;
      },
      () => clearTimeout(timer),
    );
  }, 100);
  process.stdout.write('ready\n');
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    if (line.trim() === 'report') process.stdout.write(`${JSON.stringify({ types, answered })}\n`);
  });
  input.on('close', () => {
    clearInterval(tick);
    socket.close();
  });
}

const [mode, familyText, targetText, countText] = process.argv.slice(2);
const family: Family = familyText === '6' ? 6 : 4;
const target = parseIp(targetText ?? '');
if (!target) throw new Error(`not an address: ${targetText}`);
if (mode === 'flood') flood(family, target, Number(countText));
else probe(family, target);
