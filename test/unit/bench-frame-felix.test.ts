import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import { FrameFelix } from '../../bench/lib/frame-felix';
import { systemClock } from '../../src/model/clock';
import { frameMessage, MessageReader } from '../../src/policysync/grpc-framing';
import { openServerStream } from '../../src/policysync/grpc-stream';

/**
 * The Go-like benchmark stand-in (bench/lib/frame-felix.ts) speaks enough HTTP/2 for our client:
 * every message arrives, in order, within the windows the client grants (a small window makes it
 * wait for WINDOW_UPDATEs), and each DATA frame carries one message, never several.
 */

const TIMEOUT = { timeout: 20_000 };

function messages(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => Buffer.from(`message ${i} `.padEnd(40 + (i % 30), 'x')));
}

async function felixFor(t: TestContext, snapshot: readonly Buffer[]): Promise<FrameFelix> {
  const dir = mkdtempSync(join(tmpdir(), 'egw-frame-felix-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const felix = await FrameFelix.start(join(dir, 'felix.sock'), snapshot);
  t.after(() => felix.stop());
  return felix;
}

/** Reads `count` messages through the daemon's own transport. */
function receive(socketPath: string, count: number, receiveWindowBytes?: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const got: string[] = [];
    const call = openServerStream(
      {
        socketPath,
        method: '/felix.PolicySync/Sync',
        request: Buffer.from('request'),
        clock: systemClock,
        ...(receiveWindowBytes !== undefined ? { receiveWindowBytes } : {}),
      },
      {
        onHeaders: () => undefined,
        onMessage: (bytes) => {
          got.push(bytes.toString());
          if (got.length === count) {
            call.close();
            resolve(got);
          }
        },
        onClose: (info) => reject(new Error(`closed after ${got.length} messages: ${info.failure ?? 'OK'}`)),
      },
    );
  });
}

for (const window of [undefined, 65_535]) {
  test(`frame-felix: 3000 messages arrive in order (receive window ${window ?? 'default'})`, TIMEOUT, async (t) => {
    const sent = messages(3000);
    const felix = await felixFor(t, sent);
    const got = await receive(felix.socketPath, sent.length, window);
    assert.deepEqual(got, sent.map((m) => m.toString()));
    assert.equal(felix.streamStarts.length, 1);
    assert.equal(felix.snapshotWritten.length, 1);
    assert.ok((felix.snapshotWritten[0] as number) >= (felix.streamStarts[0] as number));
  });
}

test('frame-felix: one message per DATA frame (a chunk never completes two messages)', TIMEOUT, async (t) => {
  const sent = messages(2000);
  const felix = await felixFor(t, sent);
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(felix.socketPath) });
  t.after(() => session.destroy());
  session.on('error', () => undefined);
  const stream = session.request({ ':method': 'POST', ':path': '/felix.PolicySync/Sync', 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => undefined);
  stream.end(frameMessage(Buffer.from('request')));
  let total = 0;
  let mostInOneChunk = 0;
  let inChunk = 0;
  const reader = new MessageReader(() => {
    total++;
    inChunk++;
  });
  await new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      inChunk = 0;
      reader.push(chunk);
      mostInOneChunk = Math.max(mostInOneChunk, inChunk);
      if (total === sent.length) resolve();
    });
  });
  assert.equal(total, sent.length);
  // Node hands each DATA frame (or a part of one) to 'data' on its own: a frame holding several
  // messages would show as a chunk completing several.
  assert.equal(mostInOneChunk, 1);
});
