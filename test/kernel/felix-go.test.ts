import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { clientVtepMac } from '../../src/model/mac';
import { createLogger } from '../../src/observability/logger';
import type { StateChange } from '../../src/policysync/client';
import { PolicySyncClient } from '../../src/policysync/client';
import { CLIENT_NODE_NAME, clientBlockRoute, eventually, gatewayBlockRoute, prepareGateway, untilReady } from '../lab/gateway';
import { FelixGo } from '../lab/felix-go';
import { withLab, type Lab } from '../lab/lab';

/**
 * The daemon against a PolicySync server written in Go with grpc-go (test/felix-go), the stack Felix
 * uses, with grpc-go's default server options: the transport is held to the real implementation, not
 * only to grpc-js on both ends. The binary is built from our .proto on first use (test/lab/felix-go.ts).
 */

const vtepMac = clientVtepMac(CLIENT_NODE_NAME);

function returnPathOf(lab: Lab, blocks: readonly string[]): string {
  return [
    'routes:',
    ...blocks.map((b) => `${b} via ${lab.addrs.node1} dev vxlan0 onlink`),
    'neighbours:',
    ...(blocks.length > 0 ? [`${lab.addrs.node1} lladdr ${vtepMac} PERMANENT`] : []),
    'fdb:',
    ...(blocks.length > 0 ? [`${vtepMac} dst ${lab.addrs.node1} self permanent`] : []),
    '',
  ].join('\n');
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'egw-felix-go-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('the daemon against a grpc-go Felix', () => {
  it('snapshot → routes in the kernel; live update and remove; Felix restart → re-sync; a message over 4 MiB refused', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, {});
      // The test Felix gives the socket up to the Go one.
      await gw.felix.stop();
      const block2 = '100.64.1.64/26';
      const script = join(gw.socketPath, '..', 'felix-go.json');
      let felix = await FelixGo.start(gw.socketPath, script, { routes: [clientBlockRoute(lab), gatewayBlockRoute(lab)] });
      try {
        gw.startDaemon();
        await untilReady(gw, 'ready on the Go Felix snapshot');
        assert.equal(await gw.returnPath(), returnPathOf(lab, [lab.clientBlock]), 'the snapshot is in the kernel');
        const stream1 = await felix.until('the stream', (e) => e.event === 'stream');
        assert.equal(stream1['subscription_type'], 'l3-routes');

        // Live: a new block, then the first one removed.
        await felix.update({ routes: [clientBlockRoute(lab), clientBlockRoute(lab, { dst: block2 }), gatewayBlockRoute(lab)] });
        await eventually('the live update in the kernel', async () => ((await gw.returnPath()) === returnPathOf(lab, [lab.clientBlock, block2]) ? true : undefined));
        await felix.update({ routes: [clientBlockRoute(lab, { dst: block2 }), gatewayBlockRoute(lab)] });
        await eventually('the live remove in the kernel', async () => ((await gw.returnPath()) === returnPathOf(lab, [block2]) ? true : undefined));

        // Felix's process goes away (grpc-go Stop: the connection closes, no status, no frame): the daemon
        // says so, keeps the kernel as it is, and re-syncs against the next Felix's snapshot.
        await felix.stop('SIGKILL');
        const lost = await eventually('the daemon to notice', async () => gw.logs.find((l) => l.includes('"stream_lost"')));
        assert.match(lost, /the connection to Felix closed/);
        assert.doesNotMatch(lost, /RST_STREAM/, 'no frame was sent: it is not called a reset');
        assert.equal(await gw.returnPath(), returnPathOf(lab, [block2]), 'the kernel keeps what it had while Felix is away');
        felix = await FelixGo.start(gw.socketPath, script, { routes: [clientBlockRoute(lab), gatewayBlockRoute(lab)] });
        await felix.until('the reconnect', (e) => e.event === 'stream');
        await eventually('the re-sync in the kernel', async () => ((await gw.returnPath()) === returnPathOf(lab, [lab.clientBlock]) ? true : undefined));
        await untilReady(gw, 'ready again after the re-sync');

        // A message above gRPC's 4 MiB: the client refuses it (RESOURCE_EXHAUSTED) and dials again.
        const before = gw.logs.filter((l) => l.includes('"stream_lost"')).length;
        await felix.sendOversize();
        const refused = await eventually('the oversize message refused', async () =>
          gw.logs.filter((l) => l.includes('"stream_lost"')).slice(before).find((l) => l.includes('RESOURCE_EXHAUSTED')),
        );
        assert.match(refused, /larger than max \(\d+ vs\.? 4194304\)/);
        await felix.until('the stream after the refusal', () => felix.count('stream') >= 2);
        await untilReady(gw, 'ready after re-syncing');
        assert.equal(await gw.returnPath(), returnPathOf(lab, [lab.clientBlock]), 'nothing of the refused message was applied');
        assert.ok(!gw.logs.some((l) => l.includes('"uncaught') || l.includes('ERR_HTTP2')), 'no stray errors');
      } finally {
        await felix.stop();
        await gw.close();
      }
    }));
});

/** A PolicySyncClient on `socket` with `intervalMs` keepalive; returns its state changes. */
function keepaliveClient(t: TestContext, socket: string, intervalMs: number): { client: PolicySyncClient; states: StateChange[]; logs: string[] } {
  const states: StateChange[] = [];
  const logs: string[] = [];
  const client = new PolicySyncClient(
    {
      socketPath: socket,
      supportsIPv6RouteUpdates: false,
      keepalive: { intervalMs, timeoutMs: 2_000 },
      logger: createLogger('info', { write: (line: string) => void logs.push(line) }),
    },
    { onEvent: () => undefined, onState: (s) => states.push(s) },
  );
  const abort = new AbortController();
  const done = client.run(abort.signal);
  t.after(async () => {
    abort.abort();
    await done;
  });
  return { client, states, logs };
}

/** A Go Felix with grpc-go's keepalive enforcement policy, MinTime = `minPing`; it serves an empty set. */
async function enforcingFelix(t: TestContext, minPing: string): Promise<{ felix: FelixGo; socket: string }> {
  const dir = tempDir(t);
  const socket = join(dir, 'felix.sock');
  const felix = await FelixGo.start(socket, join(dir, 'script.json'), {}, ['-min-ping-interval', minPing]);
  t.after(() => felix.stop());
  return { felix, socket };
}

describe('keepalive against grpc-go enforcement', () => {
  // grpc-go's server keeps a keepalive EnforcementPolicy whose MinTime defaults to 5 minutes (Felix sets
  // none); the client pings every 5 minutes. The Go Felix takes the same policy with MinTime shortened
  // to 1 s (-min-ping-interval), and the client the same interval: the relation the gateway has with a
  // real Felix, in seconds instead of minutes.
  it('a ping every MinTime on a quiet stream is never punished', { timeout: 60_000 }, async (t) => {
    const { felix, socket } = await enforcingFelix(t, '1s');
    const { client, states } = keepaliveClient(t, socket, 1_000);
    await felix.until('the stream', (e) => e.event === 'stream');
    // Eight intervals of silence after in_sync: three strikes would have closed the connection.
    await new Promise((r) => setTimeout(r, 8_500));
    assert.deepEqual(states.map((s) => s.state), ['connecting', 'connected'], JSON.stringify(states));
    assert.equal(client.stats().streams, 1);
    assert.equal(felix.count('stream_ended'), 0);
  });

  it('pinging more often than MinTime earns GOAWAY too_many_pings, named as such; the client then pings half as often', { timeout: 60_000 }, async (t) => {
    const { socket } = await enforcingFelix(t, '2s');
    const { states, logs } = keepaliveClient(t, socket, 300);
    await eventually('the GOAWAY', async () => (states.some((s) => s.state === 'disconnected') ? true : undefined), 20_000);
    const lost = states.find((s) => s.state === 'disconnected');
    assert.equal(lost?.reason, 'Felix closed the connection (GOAWAY ENHANCE_YOUR_CALM "too_many_pings")');
    const backoff = logs.map((l) => JSON.parse(l) as { event?: string; intervalMs?: number }).find((l) => l.event === 'keepalive_backoff');
    assert.equal(backoff?.intervalMs, 600);
  });
});
