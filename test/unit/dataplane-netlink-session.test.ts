import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NetlinkError, NetlinkSession, type DatagramSocket } from '../../src/kernel/netlink/session';

/** One message as the fake kernel saw it. */
interface Seen {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
}

function header(length: number, type: number, flags: number, seq: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq, 8);
  return b;
}

function ack(seq: number, errno = 0): Buffer {
  const body = Buffer.alloc(20);
  body.writeInt32LE(errno, 0);
  return Buffer.concat([header(36, 2, 0, seq), body]);
}

/**
 * A kernel stand-in: it records every datagram, and answers only when the test says so, which
 * lets the test see how many requests are in flight at any moment.
 */
class FakeNetlinkSocket implements DatagramSocket {
  readonly datagrams: Seen[][] = [];
  private unanswered: Seen[] = [];
  maxUnanswered = 0;
  private deliver: (d: Buffer) => void = () => undefined;
  private fail: (e: Error) => void = () => undefined;

  send(datagram: Buffer, callback: (err?: Error) => void): void {
    const seen: Seen[] = [];
    for (let off = 0; off < datagram.length; ) {
      const len = datagram.readUInt32LE(off);
      seen.push({ type: datagram.readUInt16LE(off + 4), flags: datagram.readUInt16LE(off + 6), seq: datagram.readUInt32LE(off + 8) });
      off += (len + 3) & ~3;
    }
    this.datagrams.push(seen);
    this.unanswered.push(...seen);
    this.maxUnanswered = Math.max(this.maxUnanswered, this.unanswered.length);
    callback();
  }

  /**
   * Processes every request seen so far as the kernel does: a failed message always gets an error
   * reply, a successful one an ACK only when it asked for one. `errnoFor` picks the failures.
   */
  answerAll(errnoFor: (s: Seen) => number = () => 0): number {
    const batch = this.unanswered;
    this.unanswered = [];
    const replies = batch.filter((s) => errnoFor(s) !== 0 || s.flags & 0x4).map((s) => ack(s.seq, errnoFor(s)));
    if (replies.length > 0) this.deliver(Buffer.concat(replies));
    return replies.length;
  }

  reply(datagram: Buffer): void {
    this.deliver(datagram);
  }

  takeUnanswered(): Seen[] {
    const b = this.unanswered;
    this.unanswered = [];
    return b;
  }

  raise(err: Error): void {
    this.fail(err);
  }

  onMessage(h: (d: Buffer) => void): void {
    this.deliver = h;
  }
  onError(h: (e: Error) => void): void {
    this.fail = h;
  }
  ref(): void {}
  unref(): void {}
  close(): void {}
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('requests are packed into datagrams and never more than maxInFlight are unanswered', async () => {
  const sock = new FakeNetlinkSocket();
  const session = new NetlinkSession({ maxInFlight: 64 }, sock);
  let done = 0;
  const all = Array.from({ length: 200 }, (_, i) =>
    session.request(24, 0x400, Buffer.alloc(28, i & 0xff), `request ${i}`).then(() => {
      done++;
    }),
  );
  for (let round = 0; done < 200 && round < 20; round++) {
    await tick();
    sock.answerAll();
    await tick();
  }
  await Promise.all(all);
  assert.equal(done, 200);
  assert.equal(sock.maxUnanswered, 64);
  assert.deepEqual(
    sock.datagrams.map((d) => d.length),
    [64, 64, 64, 8],
    'four datagrams for 200 requests',
  );
  for (const d of sock.datagrams) {
    // Only the last message of a datagram asks for an ACK; its reply vouches for the others.
    assert.deepEqual(
      d.map((s) => s.flags),
      d.map((_, i) => 0x400 | 0x1 | (i === d.length - 1 ? 0x4 : 0)),
    );
  }
  session.close();
});

test('a negative ACK fails only its own request, with the errno name as code', async () => {
  const sock = new FakeNetlinkSocket();
  const session = new NetlinkSession({}, sock);
  const results = Array.from({ length: 5 }, (_, i) => session.request(24, 0, Buffer.alloc(8), `RTM_NEWROUTE #${i}`).then(() => 'ok', (e: unknown) => e));
  await tick();
  const third = sock.datagrams[0]?.[2]?.seq;
  sock.answerAll((s) => (s.seq === third ? -17 /* EEXIST */ : 0));
  const settled = await Promise.all(results);
  assert.deepEqual(settled.map((x) => (x === 'ok' ? 'ok' : 'err')), ['ok', 'ok', 'err', 'ok', 'ok']);
  const err = settled[2];
  assert.ok(err instanceof NetlinkError);
  assert.equal(err.code, 'EEXIST');
  assert.equal(err.message, 'EEXIST (RTM_NEWROUTE #2)');
  session.close();
});

test('when the last message of a datagram fails, the earlier ones are known to have succeeded', async () => {
  const sock = new FakeNetlinkSocket();
  const session = new NetlinkSession({}, sock);
  const results = Array.from({ length: 3 }, (_, i) => session.request(24, 0, Buffer.alloc(8), `RTM_NEWROUTE #${i}`).then(() => 'ok', (e: unknown) => (e as NetlinkError).code));
  await tick();
  assert.equal(sock.datagrams.length, 1);
  const last = sock.datagrams[0]?.[2]?.seq;
  assert.equal(sock.answerAll((s) => (s.seq === last ? -101 /* ENETUNREACH */ : 0)), 1, 'one reply for the whole datagram');
  assert.deepEqual(await Promise.all(results), ['ok', 'ok', 'ENETUNREACH']);
  session.close();
});

test('a dump travels alone, collects a multipart reply over several datagrams, and ends at DONE', async () => {
  const sock = new FakeNetlinkSocket();
  const session = new NetlinkSession({}, sock);
  const write = session.request(24, 0, Buffer.alloc(8), 'write');
  const dump = session.dump(26, Buffer.alloc(12), 'dump');
  const later = session.request(24, 0, Buffer.alloc(8), 'write after dump');
  await tick();
  assert.deepEqual(sock.datagrams.map((d) => d.map((s) => s.type)), [[24], [26]], 'the dump goes in a datagram of its own');
  const [writeReq, dumpReq] = sock.takeUnanswered();
  assert.ok(writeReq && dumpReq);
  sock.reply(ack(writeReq.seq));
  await write;
  assert.equal(dumpReq.flags, 0x300 | 0x1, 'REQUEST|DUMP');
  const part = (payload: string): Buffer => {
    const body = Buffer.from(payload.padEnd(8, '\0'));
    return Buffer.concat([header(16 + body.length, 24, 0x2 /* MULTI */, dumpReq.seq), body]);
  };
  sock.reply(Buffer.concat([part('one'), part('two')]));
  sock.reply(Buffer.concat([header(20, 3 /* DONE */, 0x2, dumpReq.seq), Buffer.alloc(4)]));
  const parts = await dump;
  assert.deepEqual(parts.map((p) => p.data.toString().replace(/\0+$/, '')), ['one', 'two']);
  await tick();
  assert.equal(sock.datagrams.length, 3, 'requests queued behind the dump go once it ends');
  sock.answerAll();
  await later;
  session.close();
});

test('a receive error (replies lost) fails what is in flight instead of waiting forever', async () => {
  const sock = new FakeNetlinkSocket();
  const session = new NetlinkSession({}, sock);
  const pending = session.request(24, 0, Buffer.alloc(8), 'RTM_NEWROUTE');
  await tick();
  const err = Object.assign(new Error('ENOBUFS'), { code: 'ENOBUFS' });
  sock.raise(err);
  await assert.rejects(pending, (e: unknown) => e === err);
  // The session keeps working afterwards.
  const next = session.request(24, 0, Buffer.alloc(8), 'RTM_NEWROUTE again');
  await tick();
  sock.answerAll();
  await next;
  session.close();
});
