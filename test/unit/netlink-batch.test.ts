import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeRequest, NetlinkError, NetlinkSession, NLMSG_HDRLEN, type DatagramSocket } from '../../src/kernel/netlink/session';
import { RequestWriter } from '../../src/kernel/netlink/writer';

/** A kernel stand-in for batches: answers each datagram at once, failing the sequence numbers it is told to. */
class Kernel implements DatagramSocket {
  readonly datagrams: { seq: number; flags: number; payload: number }[][] = [];
  /** The datagrams as handed over, to tell a view of the caller's buffer from a copy. */
  readonly sent: Buffer[] = [];
  failWith = new Map<number, number>(); // payload byte → errno
  private deliver: (d: Buffer) => void = () => undefined;

  send(datagram: Buffer | Buffer[], callback: (err?: Error) => void): void {
    const d = Buffer.isBuffer(datagram) ? datagram : Buffer.concat(datagram);
    this.sent.push(d);
    const seen: { seq: number; flags: number; payload: number }[] = [];
    const replies: Buffer[] = [];
    for (let off = 0; off < d.length; ) {
      const len = d.readUInt32LE(off);
      const m = { seq: d.readUInt32LE(off + 8), flags: d.readUInt16LE(off + 6), payload: d.readUInt8(off + NLMSG_HDRLEN) };
      seen.push(m);
      const errno = this.failWith.get(m.payload) ?? 0;
      if (errno !== 0 || m.flags & 0x4) {
        const r = Buffer.alloc(36);
        r.writeUInt32LE(36, 0);
        r.writeUInt16LE(2, 4);
        r.writeUInt32LE(m.seq, 8);
        r.writeInt32LE(errno, 16);
        replies.push(r);
      }
      off += (len + 3) & ~3;
    }
    this.datagrams.push(seen);
    callback();
    setImmediate(() => this.deliver(Buffer.concat(replies)));
  }
  onMessage(h: (d: Buffer) => void): void {
    this.deliver = h;
  }
  onError(): void {}
  ref(): void {}
  unref(): void {}
  close(): void {}
}

function wires(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => {
    const w = encodeRequest(24, 0x400, 4);
    w.writeUInt8(i, NLMSG_HDRLEN);
    return w;
  });
}

test('requestMany: one result per request, a failing one reported on its own with its description', async () => {
  const kernel = new Kernel();
  kernel.failWith.set(3, -17); // EEXIST
  kernel.failWith.set(99, -101); // ENETUNREACH, the last of the batch
  const session = new NetlinkSession({ maxInFlight: 40 }, kernel);
  const errors = await session.requestMany(wires(100), (i) => `route #${i}`);
  session.close();
  assert.equal(errors.length, 100);
  const failed = errors.flatMap((e, i) => (e ? [[i, e instanceof NetlinkError ? e.code : undefined, e.message]] : []));
  assert.deepEqual(failed, [
    [3, 'EEXIST', 'EEXIST (route #3)'],
    [99, 'ENETUNREACH', 'ENETUNREACH (route #99)'],
  ]);
  assert.deepEqual(kernel.datagrams.map((d) => d.length), [40, 40, 20], 'never more than maxInFlight unanswered');
  for (const d of kernel.datagrams) {
    assert.deepEqual(d.map((m) => m.flags & 0x4), d.map((_, i) => (i === d.length - 1 ? 0x4 : 0)), 'only the last asks for an ACK');
    assert.deepEqual(d.map((m) => m.flags & ~0x4), d.map(() => 0x400 | 0x1), 'REQUEST and the caller’s flags kept');
    d.forEach((m, i) => i > 0 && assert.equal(m.seq, (d[i - 1]?.seq ?? 0) + 1, 'consecutive sequence numbers'));
  }
});

test('requestMany on a closed session: every request gets its own error, nothing is sent', async () => {
  const kernel = new Kernel();
  const session = new NetlinkSession({}, kernel);
  session.close();
  const errors = await session.requestMany(wires(3), (i) => `neighbour #${i}`);
  assert.deepEqual(errors.map((e) => e?.message), ['neighbour #0: netlink session closed', 'neighbour #1: netlink session closed', 'neighbour #2: netlink session closed']);
  assert.equal(kernel.datagrams.length, 0);
});

test('single requests and a batch share datagrams and the in-flight bound', async () => {
  const kernel = new Kernel();
  const session = new NetlinkSession({ maxInFlight: 8 }, kernel);
  const one = session.request(24, 0, Buffer.from([200, 0, 0, 0]), 'single');
  const many = session.requestMany(wires(10), (i) => `#${i}`);
  await one;
  assert.deepEqual((await many).filter(Boolean), []);
  session.close();
  assert.deepEqual(kernel.datagrams.map((d) => d.length), [8, 3]);
});

test('requests laid back to back in one slab go out as a view of it, with the same bytes as a copy would have', async () => {
  const kernel = new Kernel();
  const { sent } = kernel;
  const session = new NetlinkSession({ maxInFlight: 4 }, kernel);
  const slab = Buffer.alloc(6 * 20);
  const inSlab = Array.from({ length: 6 }, (_, i) => {
    const w = slab.subarray(i * 20, i * 20 + 20);
    encodeRequest(24, 0x400, 4).copy(w);
    w.writeUInt8(i, NLMSG_HDRLEN);
    return w;
  });
  // The last two swapped: no longer back to back, so their datagram is a copy.
  const errors = await session.requestMany([...inSlab.slice(0, 4), inSlab[5] as Buffer, inSlab[4] as Buffer], (i) => `#${i}`);
  session.close();
  assert.deepEqual(errors.filter(Boolean), []);
  assert.deepEqual(kernel.datagrams.map((d) => d.map((m) => m.payload)), [[0, 1, 2, 3], [5, 4]]);
  assert.equal(sent[0]?.buffer, slab.buffer, 'the first datagram is a view of the slab');
  assert.equal(sent[0].byteOffset, slab.byteOffset);
  assert.equal(sent[0].length, 80);
  assert.notEqual(sent[1]?.buffer, slab.buffer, 'the second is a copy');
  assert.deepEqual(kernel.datagrams[1]?.map((m) => m.flags & 0x4), [0, 0x4], 'ACK asked by the last of the copy too');
});

/** n requests written back to back, each carrying its index as the first payload byte. */
function encoded(n: number, first = 0): ReturnType<RequestWriter['done']> {
  const w = new RequestWriter(n);
  for (let i = 0; i < n; i++) {
    const at = w.begin(24, 0x400, 4);
    w.u8(at, first + i);
    w.finish();
  }
  return w.done();
}

test('requestEncoded: views of the written buffer go out, and each failure comes back on its own entry', async () => {
  const kernel = new Kernel();
  const { sent } = kernel;
  kernel.failWith.set(3, -17); // EEXIST, mid-datagram
  kernel.failWith.set(39, -19); // ENODEV, a datagram's last
  kernel.failWith.set(99, -101); // ENETUNREACH, the batch's last
  const session = new NetlinkSession({ maxInFlight: 40 }, kernel);
  const batch = encoded(100);
  const errors = await session.requestEncoded(batch, (i) => `route #${i}`);
  session.close();
  assert.deepEqual(
    errors.flatMap((e, i) => (e ? [[i, e.message]] : [])),
    [
      [3, 'EEXIST (route #3)'],
      [39, 'ENODEV (route #39)'],
      [99, 'ENETUNREACH (route #99)'],
    ],
  );
  assert.deepEqual(kernel.datagrams.map((d) => d.length), [40, 40, 20]);
  for (const d of sent) assert.equal(d.buffer, batch.bytes.buffer, 'a view of the batch, not a copy');
  const seqs = kernel.datagrams.flat().map((m) => m.seq);
  seqs.forEach((seq, i) => i > 0 && assert.equal(seq, (seqs[i - 1] ?? 0) + 1, 'consecutive sequence numbers'));
});

test('one datagram holding a single request, a batch and another single: replies find their own entry', async () => {
  const kernel = new Kernel();
  kernel.failWith.set(202, -17); // the second single
  kernel.failWith.set(12, -22); // the batch's member #2 (EINVAL)
  const session = new NetlinkSession({}, kernel);
  const first = session.request(24, 0, Buffer.from([201, 0, 0, 0]), 'single one').then(() => 'ok', (e: unknown) => (e instanceof Error ? e.message : String(e)));
  const many = session.requestEncoded(encoded(5, 10), (i) => `batch #${i}`);
  const second = session.request(24, 0, Buffer.from([202, 0, 0, 0]), 'single two').then(() => 'ok', (e: unknown) => (e instanceof Error ? e.message : String(e)));
  assert.deepEqual(await Promise.all([first, many.then((es) => es.map((e) => e?.message ?? 'ok')), second]), [
    'ok',
    ['ok', 'ok', 'EINVAL (batch #2)', 'ok', 'ok'],
    'EEXIST (single two)',
  ]);
  session.close();
  assert.deepEqual(kernel.datagrams.map((d) => d.map((m) => m.payload)), [[201, 10, 11, 12, 13, 14, 202]]);
});

/** A kernel that takes every datagram and never answers; while ref'd it keeps the process alive, as a socket does. */
class Silent implements DatagramSocket {
  datagrams = 0;
  private alive: NodeJS.Timeout | undefined;
  send(_d: Buffer, callback: (err?: Error) => void): void {
    this.datagrams++;
    callback();
  }
  onMessage(): void {}
  onError(): void {}
  ref(): void {
    this.alive ??= setInterval(() => undefined, 1000);
  }
  unref(): void {
    clearInterval(this.alive);
    this.alive = undefined;
  }
  close(): void {
    this.unref();
  }
}

test('unanswered requests time out each with its own description; the batch still resolves', async () => {
  const session = new NetlinkSession({ timeoutMs: 20, maxInFlight: 3 }, new Silent());
  const errors = await session.requestEncoded(encoded(5), (i) => `route #${i}`);
  session.close();
  assert.deepEqual(
    errors.map((e) => [(e as NetlinkError).code, e?.message]),
    [0, 1, 2, 3, 4].map((i) => ['ETIMEDOUT', `ETIMEDOUT (no reply from the kernel to route #${i})`]),
  );
});

test('close with a batch partly in flight and partly queued fails every entry, and the promise resolves', async () => {
  const silent = new Silent();
  const session = new NetlinkSession({ maxInFlight: 4 }, silent);
  const pending = session.requestEncoded(encoded(10), (i) => `route #${i}`);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(silent.datagrams, 1, 'four sent, six waiting for room');
  session.close();
  const errors = await pending;
  assert.deepEqual(errors.map((e) => e?.message), Array.from({ length: 10 }, () => 'netlink session closed'));
});
