import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import { FakeClock } from '../../src/model/clock';
import { createLogger, silentLogger } from '../../src/observability/logger';
import { PolicySyncClient } from '../../src/policysync/client';
import { encodeSyncRequest } from '../../src/policysync/proto';
import type { CloseInfo, KeepaliveOptions, SyncCall } from '../../src/policysync/sync-call';
import { describeStatus, openSyncCall } from '../../src/policysync/sync-call';

/**
 * The client's transport (grpc-js, sync-call.ts) against a raw node:http2 server, which can do what a
 * well-behaved gRPC server never does on purpose: odd DATA chunking, bad statuses, RST_STREAM, GOAWAY,
 * oversize or compressed messages, silence. What is checked is our side: every ending reaches the
 * client as one clear line. (The test Felix covers the normal path in policysync-client.test.ts, the
 * Go Felix the real grpc-go server in test/kernel/felix-go.test.ts.)
 */

/** One message in gRPC's length-prefixed form, uncompressed. */
function frameMessage(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

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
  /**
   * The session's connection itself. session.socket is a proxy that, on Node 22, refuses destroy()
   * (ERR_HTTP2_NO_SOCKET_MANIPULATION); Node 24 allows it.
   */
  readonly connection: net.Socket;
  /** The request body, once the client ended it. */
  readonly body: Promise<Buffer>;
}

/** An HTTP/2 server on a Unix socket; `onStream` plays the server's part of each call. */
async function rawServer(t: TestContext, onStream: (s: ServerSide) => void): Promise<{ socket: string; pings: () => number; closed: () => number }> {
  const socket = join(tempDir(t), 'felix.sock');
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  const connections = new WeakMap<http2.ServerHttp2Session, net.Socket>();
  let accepted: net.Socket | undefined;
  let pings = 0;
  let closed = 0;
  // The server makes the session inside its own 'connection' listener: be first to see the raw socket.
  server.prependListener('connection', (conn: net.Socket) => (accepted = conn));
  server.on('session', (session) => {
    if (accepted) connections.set(session, accepted);
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
    const session = stream.session as http2.ServerHttp2Session;
    const connection = connections.get(session);
    assert.ok(connection, 'the raw connection of the session');
    onStream({ stream, headers, session, connection, body });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.after(async () => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { socket, pings: () => pings, closed: () => closed };
}

interface Recorded {
  readonly call: SyncCall;
  readonly messages: string[];
  headers: number;
  readonly closed: Promise<CloseInfo>;
}

function call(
  socketPath: string,
  opts: { maxMessageBytes?: number; keepalive?: KeepaliveOptions; onMessage?: (m: string, c: SyncCall) => void } = {},
): Recorded {
  let resolveClosed!: (info: CloseInfo) => void;
  const closed = new Promise<CloseInfo>((resolve) => (resolveClosed = resolve));
  const rec: { call?: SyncCall; messages: string[]; headers: number; closed: Promise<CloseInfo> } = { messages: [], headers: 0, closed };
  let done = false;
  rec.call = openSyncCall(
    {
      socketPath,
      request: REQUEST,
      logger: silentLogger(),
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

test('transport: sends a gRPC POST with the framed request; reads messages cut anyhow across DATA frames; status OK ends it cleanly', TIMEOUT, async (t) => {
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
  assert.equal(seen.headers['grpc-encoding'], undefined, 'the request is not compressed');
  assert.deepEqual(await seen.body, frameMessage(REQUEST));
});

test('transport: a non-zero grpc-status in trailers fails the call with its name and the decoded grpc-message', TIMEOUT, async (t) => {
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

test('transport: a trailers-only response fails the call without announcing headers', TIMEOUT, async (t) => {
  const { socket } = await rawServer(t, (s) => {
    s.stream.respond({ ...GRPC_HEADERS, 'grpc-status': '12', 'grpc-message': 'unknown service felix.PolicySync' }, { endStream: true });
  });
  const rec = call(socket);
  assert.deepEqual(await rec.closed, { failure: 'UNIMPLEMENTED: unknown service felix.PolicySync' });
  assert.equal(rec.headers, 0);
});

test('transport: a stream that ends without any grpc-status fails', TIMEOUT, async (t) => {
  const { socket } = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS);
    s.stream.end(frames('m'));
  });
  const rec = call(socket);
  assert.deepEqual(await rec.closed, { failure: 'the call ended without a grpc-status' });
  assert.deepEqual(rec.messages, ['m']);
});

test('transport: an HTTP error status or a response that is not gRPC fails the call', TIMEOUT, async (t) => {
  const { socket } = await rawServer(t, (s) => {
    s.stream.respond({ ':status': 503, 'content-type': 'text/plain' });
    s.stream.end('busy');
  });
  // grpc-js shows us the headers but not the HTTP status; the content type already says it is not gRPC.
  assert.deepEqual(await call(socket).closed, { failure: 'the response is not gRPC (content-type text/plain)' });

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

test('transport: RST_STREAM from the server fails the call and names the code', TIMEOUT, async (t) => {
  const { socket } = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS);
    // destroy() with an error resets the stream (INTERNAL_ERROR).
    s.stream.write(frames('before'), () => s.stream.destroy(new Error('server bug')));
  });
  const rec = call(socket);
  assert.deepEqual(await rec.closed, { failure: 'the stream was reset (RST_STREAM INTERNAL_ERROR)' });
  assert.deepEqual(rec.messages, ['before']);
});

test('transport: GOAWAY too_many_pings is named and flagged; a graceful GOAWAY lets the stream finish', TIMEOUT, async (t) => {
  const { socket } = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS);
    s.stream.write(frames('x'), () => {
      s.session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from('too_many_pings'));
      // grpc-go closes the connection after this GOAWAY.
      setTimeout(() => s.session.destroy(), 20);
    });
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

test('transport: the server going away mid-stream is a closed connection, not a reset', TIMEOUT, async (t) => {
  const { socket } = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS);
    // As a Felix whose process died: the socket closes, no frame says why.
    s.stream.write(frames('snapshot'), () => s.connection.destroy());
  });
  const rec = call(socket);
  assert.match((await rec.closed).failure ?? '', /^the connection to Felix closed/);
  assert.deepEqual(rec.messages, ['snapshot']);
});

test('transport: an oversize or compressed message fails the call and cancels the stream at the server', TIMEOUT, async (t) => {
  const resets: number[] = [];
  const { socket } = await rawServer(t, (s) => {
    s.stream.on('close', () => resets.push(s.stream.rstCode));
    s.stream.respond(GRPC_HEADERS);
    const big = Buffer.alloc(101, 0x61);
    s.stream.write(Buffer.concat([frames('small'), frameMessage(big)]));
  });
  const rec = call(socket, { maxMessageBytes: 100 });
  assert.match((await rec.closed).failure ?? '', /^RESOURCE_EXHAUSTED: .*101 vs\.? 100/);
  // grpc-js fails the call when it reads the big message's prefix, which may be before it has handed
  // on 'small' from the same chunk; either way the big one is never delivered.
  assert.ok(rec.messages.join(',') === 'small' || rec.messages.length === 0, rec.messages.join(','));
  await until(() => resets.length === 1, 'the server sees the stream end');
  assert.equal(resets[0], http2.constants.NGHTTP2_CANCEL);

  const { socket: zipped } = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS);
    const m = frames('gzip?');
    m[0] = 1;
    s.stream.write(m);
  });
  assert.match((await call(zipped).closed).failure ?? '', /^INTERNAL: .*compressed one when no compression was negotiated/);
});

test('transport: status OK in the middle of a message ends the call without delivering the cut message', TIMEOUT, async (t) => {
  const { socket } = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS, { waitForTrailers: true });
    s.stream.on('wantTrailers', () => s.stream.sendTrailers({ 'grpc-status': '0' }));
    s.stream.end(frames('whole', 'cut short').subarray(0, 17));
  });
  const rec = call(socket);
  // grpc-js takes the OK at its word and drops the partial message (the hand-written client called it
  // INTERNAL); the client re-dials after either, and nothing half-read reaches it.
  const info = await rec.closed;
  assert.ok(info.failure === undefined || info.failure.startsWith('INTERNAL'), info.failure);
  assert.deepEqual(rec.messages, ['whole']);
});

test('transport: close() from a message handler stops delivery, cancels the stream and never calls onClose', TIMEOUT, async (t) => {
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

test('transport: no socket, or something else at the path, is a failure naming the errno and the path', TIMEOUT, async (t) => {
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

test('transport: keepalive PINGs every interval keep a quiet call; a server that stops answering them fails it', TIMEOUT, async (t) => {
  const server = await rawServer(t, (s) => {
    s.stream.respond(GRPC_HEADERS);
    s.stream.write(frames('snapshot'));
  });
  const relay = await freezableRelay(t, server.socket);
  const rec = call(relay.socket, { keepalive: { intervalMs: 200, timeoutMs: 300 } });
  await until(() => rec.messages.length === 1, 'the first message');
  await until(() => server.pings() >= 3, 'three PINGs, answered');
  let ended = false;
  void rec.closed.then(() => (ended = true));
  assert.equal(ended, false, 'answered PINGs keep the call');

  // Felix hangs with the socket open: the next PING is never answered.
  relay.freeze();
  const info = await rec.closed;
  assert.match(info.failure ?? '', /^the connection to Felix closed .*keepalive/);
});

test('PolicySyncClient: after GOAWAY too_many_pings it pings half as often on the next stream', TIMEOUT, async (t) => {
  let streams = 0;
  const { socket } = await rawServer(t, (s) => {
    streams++;
    s.stream.respond(GRPC_HEADERS);
    if (streams === 1) {
      s.stream.write(frames(''), () => {
        s.session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from('too_many_pings'));
        setTimeout(() => s.session.destroy(), 20);
      });
    }
  });
  const clock = new FakeClock();
  const states: string[] = [];
  const logs: string[] = [];
  const client = new PolicySyncClient(
    {
      socketPath: socket,
      supportsIPv6RouteUpdates: false,
      clock,
      random: () => 0.5,
      keepalive: { intervalMs: 300_000, timeoutMs: 20_000 },
      logger: createLogger('info', { write: (line: string) => void logs.push(line) }),
    },
    { onEvent: () => undefined, onState: (c) => states.push(c.reason ? `${c.state}: ${c.reason}` : c.state) },
  );
  const abort = new AbortController();
  const done = client.run(abort.signal);
  t.after(() => abort.abort());
  await until(() => states.length === 3, 'the first stream to be dropped');
  assert.deepEqual(states, ['connecting', 'connected', 'disconnected: Felix closed the connection (GOAWAY ENHANCE_YOUR_CALM "too_many_pings")']);
  const backoff = logs.map((l) => JSON.parse(l) as { event?: string; intervalMs?: number }).find((l) => l.event === 'keepalive_backoff');
  assert.equal(backoff?.intervalMs, 600_000, 'the next stream pings every 10 minutes');
  clock.advance(75);
  await until(() => client.stats().streams === 2, 'the second stream');
  abort.abort();
  await done;
  assert.equal(clock.pendingTimers(), 0);
});

test('transport: how grpc-js ends a call becomes one line for the log (describeStatus)', () => {
  const cases: ReadonlyArray<readonly [{ code: number; details: string }, boolean, string | undefined]> = [
    [{ code: 0, details: 'OK' }, false, undefined],
    [{ code: 14, details: 'No connection established. Last error: Error: connect ENOENT /run/felix.sock (2026-12-02T01:00:00.000Z)' }, false, 'connect ENOENT /run/felix.sock'],
    [{ code: 14, details: 'No connection established. Last error: connect EACCES /run/felix.sock.' }, false, 'connect EACCES /run/felix.sock'],
    [{ code: 14, details: 'Connection dropped' }, false, 'the connection to Felix closed (Felix went away, or did not answer a keepalive PING in time)'],
    [{ code: 14, details: 'Connection dropped' }, true, 'Felix closed the connection (GOAWAY ENHANCE_YOUR_CALM "too_many_pings")'],
    [{ code: 1, details: 'Call cancelled' }, false, 'the connection to Felix closed, or Felix cancelled the stream'],
    [{ code: 13, details: 'Received RST_STREAM with code 2 (Internal server error)' }, false, 'the stream was reset (RST_STREAM INTERNAL_ERROR)'],
    [{ code: 13, details: 'Received RST_STREAM with code 0 (Call ended without gRPC status)' }, false, 'the call ended without a grpc-status'],
    [{ code: 8, details: 'Received message larger than max (4194405 vs 4194304)' }, false, 'RESOURCE_EXHAUSTED: Received message larger than max (4194405 vs 4194304)'],
    [{ code: 2, details: 'unable to authenticate client' }, false, 'UNKNOWN: unable to authenticate client'],
    [{ code: 14, details: 'Felix is restarting%3A bye' }, false, 'UNAVAILABLE: Felix is restarting: bye'],
    [{ code: 12, details: '' }, false, 'UNIMPLEMENTED'],
  ];
  for (const [status, tooManyPings, want] of cases) assert.equal(describeStatus(status, tooManyPings), want, JSON.stringify(status));
});
