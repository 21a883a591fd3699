import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import type { Clock, TimerHandle } from '../../src/model/clock';
import { FakeClock, systemClock } from '../../src/model/clock';
import { PolicySyncClient, encodeSyncRequest } from '../../src/policysync/client';
import { frameMessage } from '../../src/policysync/grpc-framing';
import type { CloseInfo, KeepaliveOptions, ServerStreamCall } from '../../src/policysync/grpc-stream';
import { openServerStream } from '../../src/policysync/grpc-stream';
import { loadPolicySyncProto } from '../lab/proto-loader';

/**
 * The transport against a raw node:http2 server, which can do what a well-behaved gRPC server never
 * does on purpose: odd DATA chunking, bad statuses, RST_STREAM, GOAWAY, oversize or compressed
 * messages, silence. (The grpc-js test Felix covers interop in policysync-client.test.ts.)
 */

const TIMEOUT = { timeout: 20_000 };
const GRPC_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };
const REQUEST = encodeSyncRequest({ subscription_type: 'l3-routes', supports_ipv6_route_updates: true });

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'egw-grpc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface ServerSide {
  readonly stream: http2.ServerHttp2Stream;
  readonly headers: http2.IncomingHttpHeaders;
  readonly session: http2.ServerHttp2Session;
  /** The request body, once the client ended it. */
  readonly body: Promise<Buffer>;
}

/** An HTTP/2 server on a Unix socket; `onStream` plays the server's part of each call. */
async function rawServer(t: TestContext, onStream: (s: ServerSide) => void): Promise<{ socket: string; pings: () => number; closed: () => number }> {
  const socket = join(tempDir(t), 'felix.sock');
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  let pings = 0;
  let closed = 0;
  server.on('session', (session) => {
    sessions.add(session);
    session.on('ping', () => pings++);
    // once: Node may emit a server session's 'close' twice (destroy, then the socket's close).
    session.once('close', () => {
      closed++;
      sessions.delete(session);
    });
    session.on('error', () => undefined);
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const body = new Promise<Buffer>((resolve) => stream.on('end', () => resolve(Buffer.concat(chunks))));
    onStream({ stream, headers, session: stream.session as http2.ServerHttp2Session, body });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.after(async () => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { socket, pings: () => pings, closed: () => closed };
}

interface Recorded {
  readonly call: ServerStreamCall;
  readonly messages: string[];
  headers: number;
  readonly closed: Promise<CloseInfo>;
}

function call(
  socketPath: string,
  opts: { clock?: Clock; maxMessageBytes?: number; keepalive?: KeepaliveOptions; onMessage?: (m: string, c: ServerStreamCall) => void } = {},
): Recorded {
  let resolveClosed!: (info: CloseInfo) => void;
  const closed = new Promise<CloseInfo>((resolve) => (resolveClosed = resolve));
  const rec: { call?: ServerStreamCall; messages: string[]; headers: number; closed: Promise<CloseInfo> } = { messages: [], headers: 0, closed };
  let done = false;
  rec.call = openServerStream(
    {
      socketPath,
      method: '/felix.PolicySync/Sync',
      request: REQUEST,
      clock: opts.clock ?? systemClock,
      ...(opts.maxMessageBytes !== undefined ? { maxMessageBytes: opts.maxMessageBytes } : {}),
      ...(opts.keepalive ? { keepalive: opts.keepalive } : {}),
    },
    {
      onHeaders: () => rec.headers++,
      onMessage: (bytes) => {
        const text = bytes.toString();
        rec.messages.push(text);
        opts.onMessage?.(text, rec.call!);
      },
      onClose: (info) => {
        assert.equal(done, false, 'onClose is called once');
        done = true;
        resolveClosed(info);
      },
    },
  );
  return rec as Recorded;
}

const frames = (...texts: string[]): Buffer => Buffer.concat(texts.map((x) => frameMessage(Buffer.from(x))));

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), `waited 10 s for: ${what}`);
}

test('grpc-stream: sends a gRPC POST with the framed request; reads messages cut anyhow across DATA frames; status OK ends it cleanly', TIMEOUT, async (t) => {
  let seen: ServerSide | undefined;
  const { socket } = await rawServer(t, (s) => {
    seen = s;
    s.stream.respond(GRPC_HEADERS, { waitForTrailers: true });
    const all = frames('alpha', '', 'b'.repeat(70_000), 'gamma');
    // Odd cuts: inside a prefix, inside a body, several messages in one write.
    const cuts = [3, 9, 12, 40_000, all.length - 4, all.length];
    let from = 0;
    for (const cut of cuts) {
      s.stream.write(all.subarray(from, cut));
      from = cut;
    }
    s.stream.on('wantTrailers', () => s.stream.sendTrailers({ 'grpc-status': '0' }));
    s.stream.end();
  });
  const rec = call(socket);
  const info = await rec.closed;
  assert.deepEqual(info, { failure: undefined });
  assert.equal(rec.headers, 1);
  assert.deepEqual(rec.messages, ['alpha', '', 'b'.repeat(70_000), 'gamma']);
  assert.ok(seen);
  assert.equal(seen.headers[':method'], 'POST');
  assert.equal(seen.headers[':path'], '/felix.PolicySync/Sync');
  assert.equal(seen.headers['content-type'], 'application/grpc');
  assert.equal(seen.headers['te'], 'trailers');
  assert.equal(seen.headers['grpc-encoding'], undefined);
  assert.deepEqual(await seen.body, frameMessage(REQUEST));
});

test('grpc-stream: the SyncRequest encoder writes what proto-loader writes from the .proto', () => {
  const sync = loadPolicySyncProto().sync;
  const cases = [
    { subscription_type: 'l3-routes', supports_ipv6_route_updates: true },
    { subscription_type: 'l3-routes', supports_ipv6_route_updates: false },
    { subscription_type: 'x'.repeat(200), supports_drop_action_override: true, supports_dataplane_stats: true },
    {},
  ];
  for (const c of cases) {
    // Compared decoded: protobufjs also writes an explicit false, which proto3 readers treat as absent.
    assert.deepEqual(sync.requestDeserialize(encodeSyncRequest(c)), sync.requestDeserialize(sync.requestSerialize(c)), JSON.stringify(c));
  }
  assert.equal(encodeSyncRequest(cases[0]!).toString('hex'), '1a096c332d726f75746573a00601');
});

test('grpc-stream: a non-zero grpc-status in trailers fails the call with its name and the decoded grpc-message', TIMEOUT, async (t) => {
  const { socket } = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS, { waitForTrailers: true });
    s.stream.write(frames('one'));
    s.stream.on('wantTrailers', () => s.stream.sendTrailers({ 'grpc-status': '14', 'grpc-message': 'Felix%20is%20restarting%3A%20bye' }));
    s.stream.end();
  });
  const rec = call(socket);
  assert.deepEqual(await rec.closed, { failure: 'UNAVAILABLE: Felix is restarting: bye' });
  assert.deepEqual(rec.messages, ['one']);
});

test('grpc-stream: a trailers-only response fails the call without announcing headers', TIMEOUT, async (t) => {
  const { socket } = await rawServer(t, (s) => {
    s.stream.respond({ ...GRPC_HEADERS, 'grpc-status': '12', 'grpc-message': 'unknown service felix.PolicySync' }, { endStream: true });
  });
  const rec = call(socket);
  assert.deepEqual(await rec.closed, { failure: 'UNIMPLEMENTED: unknown service felix.PolicySync' });
  assert.equal(rec.headers, 0);
});

test('grpc-stream: a stream that ends without any grpc-status, or with a bad one, fails', TIMEOUT, async (t) => {
  const { socket } = await rawServer(t, (s) => {
    if (s.headers['x-case'] === undefined) {
      s.stream.respond(GRPC_HEADERS);
      s.stream.end(frames('m'));
    }
  });
  const rec = call(socket);
  assert.match((await rec.closed).failure ?? '', /without a valid grpc-status \(none\)|without a grpc-status/);
  assert.deepEqual(rec.messages, ['m']);

  const { socket: bad } = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS, { waitForTrailers: true });
    s.stream.on('wantTrailers', () => s.stream.sendTrailers({ 'grpc-status': 'OK' }));
    s.stream.end();
  });
  assert.deepEqual(await call(bad).closed, { failure: 'the call ended without a valid grpc-status ("OK")' });
});

test('grpc-stream: an HTTP error status or a response that is not gRPC fails the call', TIMEOUT, async (t) => {
  const { socket } = await rawServer(t, (s) => {
    s.stream.respond({ ':status': 503, 'content-type': 'text/plain' });
    s.stream.end('busy');
  });
  assert.deepEqual(await call(socket).closed, { failure: 'HTTP status 503 (content-type text/plain)' });

  const { socket: html } = await rawServer(t, (s) => {
    s.stream.respond({ ':status': 200, 'content-type': 'text/html' });
    s.stream.end('<html>');
  });
  assert.deepEqual(await call(html).closed, { failure: 'the response is not gRPC (content-type text/html)' });

  // A subtype with parameters is still gRPC.
  const { socket: proto } = await rawServer(t, (s) => {
    s.stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto; charset=utf-8' }, { waitForTrailers: true });
    s.stream.on('wantTrailers', () => s.stream.sendTrailers({ 'grpc-status': '0' }));
    s.stream.end(frames('ok'));
  });
  const ok = call(proto);
  assert.deepEqual(await ok.closed, { failure: undefined });
  assert.deepEqual(ok.messages, ['ok']);
});

test('grpc-stream: RST_STREAM from the server fails the call and names the code', TIMEOUT, async (t) => {
  const { socket } = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS);
    // destroy() with an error resets the stream (INTERNAL_ERROR); close(code) would end it cleanly
    // first, because our side has already half-closed it.
    s.stream.write(frames('before'), () => s.stream.destroy(new Error('server bug')));
  });
  const rec = call(socket);
  assert.deepEqual(await rec.closed, { failure: 'the stream was reset (RST_STREAM INTERNAL_ERROR)' });
  assert.deepEqual(rec.messages, ['before']);
});

test('grpc-stream: GOAWAY for an error fails the call; too_many_pings is flagged; a graceful GOAWAY lets the stream finish', TIMEOUT, async (t) => {
  const { socket } = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS);
    s.stream.write(frames('x'), () => s.session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from('too_many_pings')));
  });
  assert.deepEqual(await call(socket).closed, {
    failure: 'Felix closed the connection (GOAWAY ENHANCE_YOUR_CALM "too_many_pings")',
    tooManyPings: true,
  });

  const { socket: graceful } = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS, { waitForTrailers: true });
    s.stream.on('wantTrailers', () => s.stream.sendTrailers({ 'grpc-status': '0' }));
    s.session.goaway(http2.constants.NGHTTP2_NO_ERROR, s.stream.id ?? 1);
    setTimeout(() => s.stream.end(frames('after goaway')), 20);
  });
  const rec = call(graceful);
  assert.deepEqual(await rec.closed, { failure: undefined });
  assert.deepEqual(rec.messages, ['after goaway']);
});

test('grpc-stream: an oversize or compressed message fails the call and cancels the stream at the server', TIMEOUT, async (t) => {
  const resets: number[] = [];
  const { socket } = await rawServer(t, (s) => {
    s.stream.on('close', () => resets.push(s.stream.rstCode ?? -1));
    s.stream.respond(GRPC_HEADERS);
    const big = Buffer.alloc(101, 0x61);
    s.stream.write(Buffer.concat([frames('small'), frameMessage(big)]));
  });
  const rec = call(socket, { maxMessageBytes: 100 });
  assert.deepEqual(await rec.closed, { failure: 'RESOURCE_EXHAUSTED: received a message of 101 bytes, more than the limit of 100' });
  assert.deepEqual(rec.messages, ['small']);
  await until(() => resets.length === 1, 'the server sees the stream end');
  assert.equal(resets[0], http2.constants.NGHTTP2_CANCEL);

  const { socket: zipped } = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS);
    const m = frames('gzip?');
    m[0] = 1;
    s.stream.write(m);
  });
  assert.deepEqual(await call(zipped).closed, { failure: 'INTERNAL: received a compressed message, but no compression was negotiated' });
});

test('grpc-stream: status OK in the middle of a message is a failure', TIMEOUT, async (t) => {
  const { socket } = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS, { waitForTrailers: true });
    s.stream.on('wantTrailers', () => s.stream.sendTrailers({ 'grpc-status': '0' }));
    s.stream.end(frames('whole', 'cut short').subarray(0, 17));
  });
  const rec = call(socket);
  assert.deepEqual(await rec.closed, { failure: 'INTERNAL: the stream ended inside a message (2 of a 9-byte message received)' });
  assert.deepEqual(rec.messages, ['whole']);
});

test('grpc-stream: close() from a message handler stops delivery, cancels the stream and never calls onClose', TIMEOUT, async (t) => {
  let serverStream: http2.ServerHttp2Stream | undefined;
  const { socket, closed } = await rawServer(t, (s) => {
    serverStream = s.stream;
    s.stream.respond(GRPC_HEADERS);
    s.stream.write(frames('1', '2', '3'));
  });
  let onCloseCalled = false;
  const rec = call(socket, { onMessage: (m, c) => m === '2' && c.close() });
  void rec.closed.then(() => (onCloseCalled = true));
  await until(() => closed() === 1, 'the server sees the connection close');
  assert.deepEqual(rec.messages, ['1', '2']);
  assert.equal(serverStream?.rstCode, http2.constants.NGHTTP2_CANCEL);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(onCloseCalled, false);
});

test('grpc-stream: no socket, or something else at the path, is a failure naming the errno and the path', TIMEOUT, async (t) => {
  const dir = tempDir(t);
  const missing = join(dir, 'nothing-here.sock');
  assert.deepEqual(await call(missing).closed, { failure: `connect ENOENT ${missing}` });
  // A Unix socket nobody listens on any more.
  const stale = join(dir, 'stale.sock');
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(stale, resolve));
  await new Promise<void>((resolve) => {
    // Close the listening fd but keep the file (Node unlinks it on close), as a crashed Felix would.
    const handle = (listener as unknown as { _handle: { close(): void } | null })._handle;
    if (handle) {
      handle.close();
      resolve();
    } else listener.close(() => resolve());
  });
  const failure = (await call(stale).closed).failure ?? '';
  assert.match(failure, new RegExp(`^connect (ECONNREFUSED|ENOENT) ${stale}$`));
});

/**
 * A Unix-socket relay between the client and the server that can stop passing the server's bytes
 * on, while keeping both connections open: a Felix that hangs with the socket open.
 */
async function freezableRelay(t: TestContext, target: string): Promise<{ socket: string; freeze(): void }> {
  const socket = join(tempDir(t), 'relay.sock');
  let frozen = false;
  const conns = new Set<net.Socket>();
  const relay = net.createServer((client) => {
    const upstream = net.connect(target);
    conns.add(client).add(upstream);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => frozen || client.write(d));
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => relay.listen(socket, resolve));
  t.after(async () => {
    for (const c of conns) c.destroy();
    await new Promise<void>((resolve) => relay.close(() => resolve()));
  });
  return { socket, freeze: () => (frozen = true) };
}

/** A FakeClock that also records the delay of every timer set on it, in order. */
class RecordingClock extends FakeClock {
  readonly delays: number[] = [];
  override setTimeout(fn: () => void, ms: number): TimerHandle {
    this.delays.push(ms);
    return super.setTimeout(fn, ms);
  }
}

test('grpc-stream: keepalive PINGs every interval keep the call; a server that stops answering them fails it', TIMEOUT, async (t) => {
  const server = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS);
    s.stream.write(frames('snapshot'));
  });
  const relay = await freezableRelay(t, server.socket);
  const clock = new RecordingClock();
  const rec = call(relay.socket, { clock, keepalive: { intervalMs: 300_000, timeoutMs: 20_000 } });
  await until(() => rec.messages.length === 1, 'the first message');
  assert.deepEqual(clock.delays, [300_000], 'the first PING is scheduled once connected');

  clock.advance(299_999);
  assert.equal(server.pings(), 0, 'no PING before the interval');
  // Two rounds: PING (with a 20 s deadline), answer (deadline cancelled, next PING scheduled).
  clock.advance(1);
  await until(() => server.pings() === 1, 'PING 1 at the server');
  await until(() => clock.delays.length === 3, 'the answer to PING 1');
  assert.deepEqual(clock.delays, [300_000, 20_000, 300_000]);
  assert.equal(clock.pendingTimers(), 1);
  clock.advance(300_000);
  await until(() => server.pings() === 2, 'PING 2 at the server');
  await until(() => clock.delays.length === 5, 'the answer to PING 2');
  assert.equal(clock.pendingTimers(), 1);

  // Felix hangs with the socket open: the next PING is never answered.
  relay.freeze();
  clock.advance(300_000);
  await until(() => server.pings() === 3, 'PING 3 at the server');
  clock.advance(19_999);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(clock.delays.length, 6, 'no answer, so no next PING scheduled');
  clock.advance(1);
  assert.deepEqual(await rec.closed, { failure: 'UNAVAILABLE: Felix did not answer a keepalive PING within 20000 ms' });
  assert.equal(clock.pendingTimers(), 0, 'no keepalive timer is left');
});

test('PolicySyncClient: after GOAWAY too_many_pings it pings half as often on the next stream', TIMEOUT, async (t) => {
  let streams = 0;
  const { socket } = await rawServer(t, (s) => {
    streams++;
    s.stream.respond(GRPC_HEADERS);
    if (streams === 1) s.stream.write(frames(''), () => s.session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from('too_many_pings')));
  });
  const clock = new RecordingClock();
  const states: string[] = [];
  const client = new PolicySyncClient(
    { socketPath: socket, supportsIPv6RouteUpdates: false, clock, random: () => 0.5, keepalive: { intervalMs: 300_000, timeoutMs: 20_000 } },
    { onEvent: () => undefined, onState: (c) => states.push(c.reason ? `${c.state}: ${c.reason}` : c.state) },
  );
  const abort = new AbortController();
  const done = client.run(abort.signal);
  t.after(() => abort.abort());
  await until(() => states.length === 3, 'the first stream to be dropped');
  assert.deepEqual(states, ['connecting', 'connected', 'disconnected: Felix closed the connection (GOAWAY ENHANCE_YOUR_CALM "too_many_pings")']);
  const retry = clock.delays.at(-1)!;
  clock.advance(retry);
  await until(() => client.stats().streams === 2, 'the second stream');
  await until(() => clock.delays.includes(600_000), 'the second stream to schedule its first PING');
  assert.deepEqual(clock.delays, [300_000, retry, 600_000]);
  abort.abort();
  await done;
  assert.equal(clock.pendingTimers(), 0);
});
