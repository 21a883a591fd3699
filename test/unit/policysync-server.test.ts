import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import type { RouteFeedServer } from '../../src/agent/ports';
import type { FelixRoute, FelixVtep, SyncEvent } from '../../src/model/felix';
import { parseCidr, parseIp } from '../../src/model/ip';
import { PolicySyncClient } from '../../src/policysync/client';
import { decodeRouteUpdate, formatSyncEvent } from '../../src/policysync/decode';
import { encodeSyncRequest } from '../../src/policysync/proto';
import { PolicySyncServer, routeUpdateOf } from '../../src/policysync/server';

/**
 * The PolicySync server (what the OSS agent serves, and what the test and bench Felix stand in with),
 * read by the gateway's own client over a Unix socket: grpc-js on both ends, the generated codec in
 * between. The same client against grpc-go is in test/kernel/felix-go.test.ts.
 */

const TIMEOUT = { timeout: 20_000 };

function route(dst: string, node = 'node1', ip = '198.51.100.11', kinds: FelixRoute['kinds'] = new Set(['remote_workload'])): FelixRoute {
  const cidr = parseCidr(dst);
  const nodeIp = parseIp(ip);
  assert.ok(cidr && nodeIp);
  return {
    dst: cidr,
    kinds,
    ipPoolType: 'vxlan',
    dstNodeName: node,
    dstNodeIp: nodeIp,
    sameSubnet: false,
    natOutgoing: false,
    localWorkload: false,
    borrowed: false,
    tunnel: { ipip: false, vxlan: false, wireguard: false },
  };
}

const vtep = (node: string, ip: string): FelixVtep => ({ node, mac: '66:00:00:00:00:01', ipv4Addr: parseIp(ip)! });

async function startServer(t: TestContext, queueLimit?: number): Promise<{ server: PolicySyncServer; socket: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'egw-server-'));
  const socket = join(dir, 'socket');
  const server = new PolicySyncServer({ socketPath: socket, ...(queueLimit !== undefined ? { queueLimit } : {}) });
  await server.start();
  t.after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { server, socket };
}

/** The gateway's client on `socket`, recording each event as formatSyncEvent's line. */
function reader(t: TestContext, socket: string): { lines: string[]; client: PolicySyncClient; until(n: number): Promise<void> } {
  const lines: string[] = [];
  const client = new PolicySyncClient(
    { socketPath: socket, supportsIPv6RouteUpdates: true, backoff: { initialMs: 20, maxMs: 100, factor: 2 } },
    {
      onStreamStart: (i) => void lines.push(`stream ${i.stream}`),
      onEvent: (e: SyncEvent) => void lines.push(formatSyncEvent(e)),
    },
  );
  const abort = new AbortController();
  const done = client.run(abort.signal);
  t.after(async () => {
    abort.abort();
    await done;
  });
  return {
    lines,
    client,
    async until(n: number) {
      for (let i = 0; i < 2000 && lines.length < n; i++) await new Promise((r) => setTimeout(r, 5));
      assert.ok(lines.length >= n, `waited for ${n} lines, have ${JSON.stringify(lines)}`);
    },
  };
}

const R = (dst: string, node = 'node1', ip = '198.51.100.11'): string => `route_update seq=0 ${dst} kinds=remote_workload pool=vxlan node=${node} node_ip=${ip}`;

test('server: nothing before the first inSync, not even headers; then snapshot, in_sync, and only the differences', TIMEOUT, async (t) => {
  const { server, socket } = await startServer(t);
  server.replace([route('100.64.1.0/26')], [vtep('node1', '100.64.1.192')]);
  const r = reader(t, socket);
  for (let i = 0; i < 200 && server.openStreams === 0; i++) await new Promise((res) => setTimeout(res, 5));
  assert.equal(server.openStreams, 1);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(r.client.stats().state, 'connecting', 'no response headers yet');
  assert.deepEqual(r.lines, []);

  server.replace([route('100.64.1.0/26'), route('100.64.3.0/26', 'node3', '198.51.100.13')], [vtep('node1', '100.64.1.192')]);
  server.inSync();
  await r.until(5);
  assert.deepEqual(r.lines, [
    'stream 1',
    'vtep_update seq=0 node=node1 mac=66:00:00:00:00:01 ipv4=100.64.1.192',
    R('100.64.1.0/26'),
    R('100.64.3.0/26', 'node3', '198.51.100.13'),
    'in_sync seq=0',
  ]);

  // The same set again: nothing. Then a change, an addition, a removal of a route and of a VTEP.
  server.replace([route('100.64.1.0/26'), route('100.64.3.0/26', 'node3', '198.51.100.13')], [vtep('node1', '100.64.1.192')]);
  server.replace([route('100.64.1.0/26', 'node4', '198.51.100.14'), route('100.64.5.0/26')], []);
  await r.until(9);
  assert.deepEqual(r.lines.slice(5), [R('100.64.1.0/26', 'node4', '198.51.100.14'), R('100.64.5.0/26'), 'route_remove seq=0 100.64.3.0/26', 'vtep_remove seq=0 node=node1']);
  assert.equal(r.client.stats().streams, 1);

  // A second, independent stream gets the current set as its snapshot.
  const second = reader(t, socket);
  await second.until(4);
  assert.deepEqual(second.lines, ['stream 1', R('100.64.1.0/26', 'node4', '198.51.100.14'), R('100.64.5.0/26'), 'in_sync seq=0']);
  assert.equal(server.openStreams, 2);
  assert.deepEqual(server.stats(), { listening: true, socket, openStreams: 2, inSync: true, routes: 2, vteps: 0 });
  // The agent serves its route feed through this interface (src/agent/ports.ts): the server is one.
  const feed: RouteFeedServer = server;
  assert.equal(typeof feed.replace, 'function');
});

test('server: a route goes out as Enterprise types and, with one kind, OSS type too; the client reads back the same route', () => {
  const one = route('100.64.1.0/26');
  assert.deepEqual({ type: routeUpdateOf(one).type, types: routeUpdateOf(one).types }, { type: 1, types: 1 });
  const two = route('100.64.1.192/32', 'node1', '198.51.100.11', new Set(['remote_workload', 'remote_tunnel']));
  assert.deepEqual({ type: routeUpdateOf(two).type, types: routeUpdateOf(two).types }, { type: undefined, types: 17 });
  const info = { ...route('100.64.0.0/16'), kinds: new Set(['cidr_info'] as const), dstNodeName: '' };
  delete (info as { dstNodeIp?: unknown }).dstNodeIp;
  for (const r of [one, two, info]) assert.deepEqual(decodeRouteUpdate(routeUpdateOf(r)), r);
});

test('server: a stream whose client stops reading is closed once it falls more than queueLimit changes behind', TIMEOUT, async (t) => {
  const { server, socket } = await startServer(t, 50);
  server.replace([], []);
  server.inSync();
  // A client that reads the headers and then nothing: HTTP/2 flow control stops the server's writes.
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(socket) });
  t.after(() => session.destroy());
  const req = session.request({ ':method': 'POST', ':path': '/felix.PolicySync/Sync', 'content-type': 'application/grpc', te: 'trailers' });
  const body = encodeSyncRequest({ subscription_type: 'l3-routes' });
  const framed = Buffer.alloc(5 + body.length);
  framed.writeUInt32BE(body.length, 1);
  framed.set(body, 5);
  req.end(framed);
  let status: string | undefined;
  req.on('trailers', (h: Record<string, unknown>) => (status = `${String(h['grpc-status'])} ${decodeURIComponent(String(h['grpc-message']))}`));
  req.on('error', () => undefined);
  session.on('error', () => undefined);
  req.on('response', () => req.pause());
  for (let i = 0; i < 200 && server.openStreams === 0; i++) await new Promise((res) => setTimeout(res, 5));

  // Each round changes every route (long node names make the messages big): the queue fills fast.
  for (let round = 0; round < 200 && server.openStreams > 0; round++) {
    server.replace(Array.from({ length: 20 }, (_, i) => route(`100.64.${i}.0/26`, `node-${round}-${'x'.repeat(2000)}`)), []);
    await new Promise((res) => setImmediate(res));
  }
  assert.equal(server.openStreams, 0, 'the stream that fell behind is closed');
  req.resume();
  for (let i = 0; i < 400 && status === undefined; i++) await new Promise((res) => setTimeout(res, 5));
  assert.match(status ?? '', /^8 the stream fell more than 50 changes behind/);
});

test('server: its folder is made, close removes its socket, a restart on the same path serves again, and a path that is not a socket is refused', TIMEOUT, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'egw-server-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'egress-gateway', 'policysync', 'socket');
  const server = new PolicySyncServer({ socketPath: socket });
  await server.start();
  server.replace([route('100.64.1.0/26')], []);
  server.inSync();
  const r = reader(t, socket);
  await r.until(3);
  await server.close();
  assert.equal(existsSync(socket), false);
  await server.start();
  await r.until(6);
  assert.deepEqual(r.lines.slice(3), ['stream 2', R('100.64.1.0/26'), 'in_sync seq=0']);
  await server.close();
  writeFileSync(socket, 'not a socket');
  await assert.rejects(new PolicySyncServer({ socketPath: socket }).start(), /exists and is not a socket/);
});
