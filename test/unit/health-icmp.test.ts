import assert from 'node:assert/strict';
import { test } from 'node:test';
import { echoReplyFor, FakeIcmpNetwork } from '../../src/fakes/probes';
import { encodeEchoRequest, internetChecksum, parseEchoReply, Pinger } from '../../src/health/icmp';
import { FakeClock } from '../../src/model/clock';
import { parseIp, type IpAddress } from '../../src/model/ip';

const ip = (s: string): IpAddress => parseIp(s) ?? assert.fail(s);
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function ipv4Wrap(source: string, icmp: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt8(0x45, 0);
  h.writeUInt16BE(20 + icmp.length, 2);
  h.writeUInt8(1, 9);
  h.set(ip(source).bytes, 12);
  return Buffer.concat([h, icmp]);
}

test('icmp: an IPv4 echo request carries a correct checksum and the fields we gave it', () => {
  const p = encodeEchoRequest(4, 0xbeef, 0x0102, Buffer.from('cookie!!'));
  assert.equal(p.toString('hex'), `0800${p.toString('hex').slice(4, 8)}beef0102${Buffer.from('cookie!!').toString('hex')}`);
  assert.equal(internetChecksum(p), 0);
  // A known vector: type 8, id 1, seq 1, no payload → checksum 0xf7fd.
  assert.equal(encodeEchoRequest(4, 1, 1, Buffer.alloc(0)).readUInt16BE(2), 0xf7fd);
});

test('icmp: an ICMPv6 echo request leaves the checksum to the kernel', () => {
  const p = encodeEchoRequest(6, 7, 9, Buffer.from([1, 2, 3]));
  assert.equal(p.toString('hex'), '80000000' + '00070009' + '010203');
});

test('icmp: replies parse; requests, other types, bad checksums and short packets do not', () => {
  const req4 = encodeEchoRequest(4, 0x1234, 42, Buffer.from('abcdefgh'));
  const reply4 = parseEchoReply(4, ipv4Wrap('198.51.100.1', echoReplyFor(4, req4)));
  assert.deepEqual(reply4 && { id: reply4.identifier, seq: reply4.sequence, p: reply4.payload.toString() }, { id: 0x1234, seq: 42, p: 'abcdefgh' });
  assert.equal(parseEchoReply(4, ipv4Wrap('198.51.100.1', req4)), undefined, 'a request is not a reply');
  const corrupt = echoReplyFor(4, req4);
  corrupt[9] = (corrupt[9] ?? 0) ^ 0xff;
  assert.equal(parseEchoReply(4, ipv4Wrap('198.51.100.1', corrupt)), undefined, 'bad checksum');
  assert.equal(parseEchoReply(4, ipv4Wrap('198.51.100.1', Buffer.from([0, 0, 0]))), undefined, 'truncated');
  assert.equal(parseEchoReply(4, Buffer.alloc(10)), undefined, 'no IP header');
  const unreachable = Buffer.from([3, 1, 0, 0, 0, 0, 0, 0]);
  unreachable.writeUInt16BE(internetChecksum(unreachable), 2);
  assert.equal(parseEchoReply(4, ipv4Wrap('198.51.100.1', unreachable)), undefined, 'destination unreachable');

  const req6 = encodeEchoRequest(6, 5, 6, Buffer.from('xy'));
  const reply6 = parseEchoReply(6, echoReplyFor(6, req6));
  assert.deepEqual(reply6 && [reply6.identifier, reply6.sequence], [5, 6]);
  assert.equal(parseEchoReply(6, req6), undefined);
});

test('pinger: a reply counts only with our identifier, a pending sequence, the right source and our cookie', async () => {
  const clock = new FakeClock();
  const net = new FakeIcmpNetwork(clock);
  const cookie = Buffer.from('0123abcd');
  const pinger = new Pinger(net, { identifier: 0x4242, cookie });
  const sent: Buffer[] = [];
  const realSend = net.send.bind(net);
  net.send = (target, packet) => {
    sent.push(Buffer.from(packet));
    return realSend(target, packet);
  };
  const controller = new AbortController();
  let answered = false;
  const echo = pinger.echo(ip('198.51.100.1'), controller.signal).then(() => (answered = true));
  await flush();
  const request = sent[0] ?? assert.fail('nothing sent');
  const seq = request.readUInt16BE(6);

  const forge = (id: number, sequence: number, payload: Buffer): Buffer => echoReplyFor(4, encodeEchoRequest(4, id, sequence, payload));
  net.inject('198.51.100.1', forge(0x4243, seq, cookie)); // another process's ping
  net.inject('198.51.100.1', forge(0x4242, (seq + 1) & 0xffff, cookie)); // a sequence not in flight
  net.inject('198.51.100.2', forge(0x4242, seq, cookie)); // the wrong host
  net.inject('198.51.100.1', forge(0x4242, seq, Buffer.from('othercoo'))); // not our payload
  await flush();
  assert.equal(answered, false);
  assert.equal(pinger.inFlight(), 1);

  net.inject('198.51.100.1', forge(0x4242, seq, cookie));
  await echo;
  assert.equal(answered, true);
  assert.equal(pinger.inFlight(), 0);
});

test('pinger: abort rejects with the reason and forgets the request; send errors reject', async () => {
  const clock = new FakeClock();
  const net = new FakeIcmpNetwork(clock);
  net.setHost('198.51.100.3', { kind: 'unreachable', error: 'ENETUNREACH' });
  const pinger = new Pinger(net);
  const c = new AbortController();
  const p = pinger.echo(ip('198.51.100.1'), c.signal);
  c.abort(new Error('no answer within 100ms'));
  await assert.rejects(p, /no answer within 100ms/);
  assert.equal(pinger.inFlight(), 0);
  await assert.rejects(pinger.echo(ip('198.51.100.3'), new AbortController().signal), /ENETUNREACH/);
  assert.equal(pinger.inFlight(), 0);
  assert.equal(net.dump(), ['198.51.100.1 silent: sent=1 replied=0 refused=0', '198.51.100.3 unreachable (ENETUNREACH): sent=1 replied=0 refused=1'].join('\n'));
});
