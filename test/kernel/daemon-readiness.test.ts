import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientBlockRoute, eventually, httpTool, metricValue, prepareGateway, type GatewayRun, untilReady } from '../lab/gateway';
import { waitForOutput, withLab, type Lab } from '../lab/lab';

/**
 * Readiness a kubelet can trust (issue 4), on a real kernel: probes through the lab's network, the
 * datastore timeout, and the drain. Reaction times are read from the daemon's own log lines (their
 * timestamps), not from how fast this test can poll.
 */

interface ReadinessChange {
  readonly ready: boolean;
  readonly at: number;
  readonly failing: readonly string[];
}

function readinessChanges(gw: GatewayRun): ReadinessChange[] {
  return gw.logs
    .filter((l) => l.includes('"event":"readiness_changed"'))
    .map((l) => JSON.parse(l) as { ready: boolean; time: string; failing: string[] })
    .map((e) => ({ ready: e.ready, at: Date.parse(e.time), failing: e.failing }));
}

/** The first change to `ready` logged at or after `since`. */
function changeAfter(gw: GatewayRun, ready: boolean, since: number): Promise<ReadinessChange> {
  return eventually(`readiness ${ready ? '200' : '503'} logged`, async () =>
    readinessChanges(gw).find((c) => c.ready === ready && c.at >= since),
  15_000, 50).catch((err: unknown) => {
    throw new Error(`${String(err)}\ndaemon log:\n${gw.logs.join('\n')}`);
  });
}

async function readyNow(gw: GatewayRun): Promise<{ status: number; body: string }> {
  const res = await gw.health('/readiness');
  assert.ok(res, 'the health server answers');
  return res;
}

/**
 * The external host's cable: its port on the fabric bridge. (Setting ext's own eth0 down would also
 * flush ext's routes, so it would not come back by itself when the link does.)
 */
async function linkOfExt(lab: Lab, state: 'up' | 'down'): Promise<number> {
  const at = Date.now();
  await lab.exec(lab.names.fabric, ['ip', 'link', 'set', 'p-ext', state]);
  return at;
}

describe('daemon: readiness', () => {
  it('ICMP probe: 200 after in_sync; 503 within timeout + interval after the upstream goes; 200 again within an interval', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        const intervalMs = 500;
        const timeoutMs = 1500;
        gw.startDaemon({ ICMP_PROBE_IPS: lab.addrs.ext, ICMP_PROBE_INTERVAL: '500ms', ICMP_PROBE_TIMEOUT: '1.5s' });
        await changeAfter(gw, true, 0);
        assert.equal((await readyNow(gw)).status, 200);

        const down = await linkOfExt(lab, 'down');
        const notReady = await changeAfter(gw, false, down);
        assert.deepEqual(notReady.failing, ['icmp']);
        assert.ok(notReady.at - down <= timeoutMs + intervalMs + 100, `503 after ${notReady.at - down} ms`);
        const body = await readyNow(gw);
        assert.equal(body.status, 503);
        assert.equal((JSON.parse(body.body) as { checks: Record<string, { ok: boolean }> }).checks.icmp?.ok, false, 'the body names the failing check');

        const up = await linkOfExt(lab, 'up');
        const readyAgain = await changeAfter(gw, true, up);
        assert.ok(readyAgain.at - up <= intervalMs + 100, `200 again after ${readyAgain.at - up} ms`);

        const metrics = await gw.health('/metrics');
        assert.ok(metrics);
        assert.ok(metricValue(metrics.body, 'egress_gateway_probe_attempts_total', { kind: 'icmp', result: 'success' }) >= 2);
        assert.ok(metricValue(metrics.body, 'egress_gateway_probe_attempts_total', { kind: 'icmp', result: 'failure' }) >= 1);
      } finally {
        await gw.close();
      }
    }));

  it('HTTP probe: a 500 answer counts as alive, no answer does not', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        const web = lab.spawn(lab.names.ext, httpTool('serve', '8081', '500'));
        await waitForOutput(web, /listening/);
        gw.startDaemon({ HTTP_PROBE_URLS: `http://${lab.addrs.ext}:8081/health`, HTTP_PROBE_INTERVAL: '500ms', HTTP_PROBE_TIMEOUT: '1500ms' });
        await changeAfter(gw, true, 0);

        const down = await linkOfExt(lab, 'down');
        const notReady = await changeAfter(gw, false, down);
        assert.deepEqual(notReady.failing, ['http']);
        assert.ok(notReady.at - down <= 1500 + 500 + 100, `503 after ${notReady.at - down} ms`);
        const up = await linkOfExt(lab, 'up');
        const back = await changeAfter(gw, true, up);
        assert.ok(back.at - up <= 500 + 100, `200 again after ${back.at - up} ms`);
      } finally {
        await gw.close();
      }
    }));

  it('503 before the first in_sync, naming the policysync check', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] }, { autoInSync: false });
      try {
        gw.startDaemon();
        await gw.felix.waitForOpenStreams(1);
        const before = await eventually('health server up', () => gw.health('/readiness'));
        assert.equal(before.status, 503);
        const report = JSON.parse(before.body) as { failing: string[] };
        assert.ok(report.failing.includes('policysync'), before.body);
        assert.equal(await gw.returnPath(), 'routes:\n\nneighbours:\n\nfdb:\n\n', 'no kernel write before in_sync');
        gw.felix.sendInSync();
        await untilReady(gw, 'ready after in_sync');
      } finally {
        await gw.close();
      }
    }));

  it('503 once the stream has been gone longer than HEALTH_TIMEOUT_DATASTORE, and not before', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        gw.startDaemon({ HEALTH_TIMEOUT_DATASTORE: '2s' });
        await changeAfter(gw, true, 0);
        const gone = Date.now();
        await gw.felix.stop();
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal((await readyNow(gw)).status, 200, 'still ready within the datastore timeout');
        const notReady = await changeAfter(gw, false, gone);
        assert.deepEqual(notReady.failing, ['policysync']);
        assert.ok(notReady.at - gone >= 2000, `not before the timeout (${notReady.at - gone} ms)`);
        const state = await gw.returnPath();
        assert.match(state, /via/, 'the kernel keeps the return path while Felix is away');
        await gw.felix.start();
        await changeAfter(gw, true, Date.now());
      } finally {
        await gw.close();
      }
    }));

  it('SIGTERM drains: 503 at once, traffic still flows during DRAIN_DELAY, then exit 0', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        const server = lab.spawn(lab.names.ext, lab.tcpTool('serve', '7777'));
        await waitForOutput(server, /listening/);
        const daemon = gw.startDaemon({ DRAIN_DELAY: '3s' });
        await changeAfter(gw, true, 0);
        const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
          daemon.once('close', (code) => resolve({ code, at: Date.now() })),
        );
        const termAt = Date.now();
        daemon.kill('SIGTERM');
        const draining = await changeAfter(gw, false, termAt);
        assert.deepEqual(draining.failing, ['drain']);
        assert.ok(draining.at - termAt < 500, `503 ${draining.at - termAt} ms after SIGTERM`);
        const during = await lab.exec(lab.names.cpod, lab.tcpTool('connect', lab.addrs.ext, '7777', 'still forwarding', '2000'), { allowFail: true });
        assert.equal(during.code, 0, 'traffic through the gateway flows during the drain');
        const { code, at } = await exited;
        assert.equal(code, 0);
        assert.ok(at - termAt >= 3000, `exited ${at - termAt} ms after SIGTERM, not before the drain delay`);
        assert.match(await gw.returnPath(), /via/, 'kernel state is left in place');
      } finally {
        await gw.close();
      }
    }));
});
