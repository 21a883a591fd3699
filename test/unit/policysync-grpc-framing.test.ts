import assert from 'node:assert/strict';
import test from 'node:test';
import { FramingError, MessageReader, frameMessage } from '../../src/policysync/grpc-framing';

/** Messages of assorted sizes, the empty one included, each with recognisable bytes. */
function sampleMessages(): Buffer[] {
  return [0, 1, 5, 0, 37, 300, 2].map((n, i) => Buffer.from(Array.from({ length: n }, (_, j) => (i * 31 + j) & 0xff)));
}

function hex(bufs: readonly Uint8Array[]): string[] {
  return bufs.map((b) => Buffer.from(b).toString('hex'));
}

/** Reads `chunks` and returns copies of what was delivered (the views are only valid during the call). */
function readAll(chunks: readonly Buffer[], max?: number): Buffer[] {
  const got: Buffer[] = [];
  const reader = new MessageReader((bytes) => got.push(Buffer.from(bytes)), max);
  for (const c of chunks) reader.push(c);
  assert.equal(reader.atBoundary, true);
  return got;
}

test('framing: a stream split into two chunks at every byte position delivers the same messages', () => {
  const messages = sampleMessages();
  const stream = Buffer.concat(messages.map(frameMessage));
  for (let cut = 0; cut <= stream.length; cut++) {
    const got = readAll([stream.subarray(0, cut), stream.subarray(cut)]);
    assert.deepEqual(hex(got), hex(messages), `cut at ${cut}`);
  }
});

test('framing: one byte per chunk, and three-way splits, deliver the same messages', () => {
  const messages = sampleMessages();
  const stream = Buffer.concat(messages.map(frameMessage));
  const bytes = [...stream].map((b) => Buffer.from([b]));
  assert.deepEqual(hex(readAll(bytes)), hex(messages));
  for (let a = 0; a < stream.length; a += 7) {
    for (let b = a; b < stream.length; b += 11) {
      const got = readAll([stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]);
      assert.deepEqual(hex(got), hex(messages), `cuts at ${a}, ${b}`);
    }
  }
});

/** Whether `bytes` lies inside `chunk`'s memory. Small buffers share Node's pool, so the ArrayBuffer alone says nothing. */
function viewOf(bytes: Buffer, chunk: Buffer): boolean {
  return bytes.buffer === chunk.buffer && bytes.byteOffset >= chunk.byteOffset && bytes.byteOffset + bytes.length <= chunk.byteOffset + chunk.length;
}

test('framing: several messages in one chunk are views into it; a message across chunks is its own buffer', () => {
  const messages = [Buffer.from('first'), Buffer.from(''), Buffer.from('second')];
  const chunk = Buffer.concat(messages.map(frameMessage));
  const seen: Array<{ text: string; shared: boolean }> = [];
  let current = chunk;
  const reader = new MessageReader((bytes) => seen.push({ text: bytes.toString(), shared: viewOf(bytes, current) }));
  reader.push(chunk);
  assert.deepEqual(seen, [
    { text: 'first', shared: true },
    { text: '', shared: true },
    { text: 'second', shared: true },
  ]);

  const spanning = frameMessage(Buffer.from('across two chunks'));
  const a = Buffer.from(spanning.subarray(0, 9));
  const b = Buffer.from(spanning.subarray(9));
  seen.length = 0;
  current = a;
  reader.push(a);
  assert.equal(reader.atBoundary, false);
  assert.equal(reader.describePartial(), '4 of a 17-byte message');
  current = b;
  reader.push(b);
  assert.deepEqual(seen, [{ text: 'across two chunks', shared: false }]);
  assert.ok(reader.atBoundary);
});

test('framing: a zero-length message is delivered as an empty buffer', () => {
  assert.deepEqual(hex(readAll([frameMessage(Buffer.alloc(0))])), ['']);
  assert.deepEqual(frameMessage(Buffer.alloc(0)), Buffer.from([0, 0, 0, 0, 0]));
});

test('framing: a message above the limit fails as RESOURCE_EXHAUSTED as soon as its prefix is read', () => {
  const got: Buffer[] = [];
  const reader = new MessageReader((b) => got.push(b), 100);
  reader.push(frameMessage(Buffer.alloc(100))); // exactly the limit is fine
  assert.equal(got.length, 1);
  // Only the prefix of a 4 GiB - 1 message: refused without waiting for (or allocating) the body.
  const huge = Buffer.from([0, 0xff, 0xff, 0xff, 0xff]);
  assert.throws(
    () => reader.push(huge),
    (err: unknown) =>
      err instanceof FramingError &&
      err.status === 'RESOURCE_EXHAUSTED' &&
      err.message === 'received a message of 4294967295 bytes, more than the limit of 100',
  );
  const prefixSplit = new MessageReader(() => assert.fail('nothing is delivered'), 100);
  prefixSplit.push(Buffer.from([0, 0, 0]));
  assert.throws(() => prefixSplit.push(Buffer.from([0, 101])), /received a message of 101 bytes, more than the limit of 100/);
});

test('framing: a compressed message, or an invalid flag, fails as INTERNAL (we never offer compression)', () => {
  const compressed = frameMessage(Buffer.from('zz'));
  compressed[0] = 1;
  assert.throws(
    () => readAll([compressed]),
    (err: unknown) => err instanceof FramingError && err.status === 'INTERNAL' && /compressed message, but no compression was negotiated/.test(err.message),
  );
  const odd = frameMessage(Buffer.from('zz'));
  odd[0] = 0x80;
  assert.throws(() => readAll([odd]), /invalid compressed flag 128/);
  // Also when the prefix is split after the flag byte.
  const reader = new MessageReader(() => undefined);
  reader.push(frameMessage(Buffer.from('ok')));
  reader.push(Buffer.from([1]));
  assert.throws(() => reader.push(Buffer.from([0, 0, 0, 2, 0x7a, 0x7a])), /compressed message/);
});

test('framing: stop() from inside the handler delivers nothing more from the chunk', () => {
  const chunk = Buffer.concat(['a', 'b', 'c'].map((t) => frameMessage(Buffer.from(t))));
  const got: string[] = [];
  const reader: MessageReader = new MessageReader((bytes) => {
    got.push(bytes.toString());
    if (got.length === 2) reader.stop();
  });
  reader.push(chunk);
  reader.push(frameMessage(Buffer.from('d')));
  assert.deepEqual(got, ['a', 'b']);
});

test('framing: the partial state names what is missing', () => {
  const reader = new MessageReader(() => undefined);
  reader.push(Buffer.from([0, 0]));
  assert.equal(reader.atBoundary, false);
  assert.equal(reader.describePartial(), "2 of a message's 5 prefix bytes");
});
