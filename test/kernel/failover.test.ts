import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectionsBetween, ECHO_PORT, startFailoverLab, tally, type FailoverLab, type FailoverLabOptions } from '../lab/failover';
import type { FlowReport } from '../lab/flow-load';
import { withLab, type Lab } from '../lab/lab';
import { startFlows } from '../lab/steering';

/**
 * Failover end to end (issue #16): the agent on an OSS client node steering one pod over two real
 * gateways, a churn of new connections from the pod and long-lived flows through both gateways.
 * Each test does to a gateway what happens to one in a cluster, waits until node1's kernel has
 * moved new flows off it (its nexthop group), and asserts outcomes: where new connections went,
 * how many connections failed, and that the other gateway's flows never noticed. How fast is the
 * bench's business (bench/failover.ts), never asserted here.
 */

const A = '100.64.2.7';
const B = '100.64.2.8';

async function withFailoverLab(t: Parameters<typeof withLab>[0], options: FailoverLabOptions, fn: (fl: FailoverLab, lab: Lab) => Promise<void>): Promise<void> {
  await withLab(
    t,
    async (lab) => {
      const fl = await startFailoverLab(lab, options);
      try {
        await fn(fl, lab);
      } catch (err) {
        t?.diagnostic(`agent log:\n${fl.agentLog.slice(-80).join('\n')}`);
        for (const g of fl.gateways.values()) t?.diagnostic(`${g.name} log:\n${g.logs.slice(-30).join('\n')}`);
        throw err;
      } finally {
        await fl.close();
      }
    },
    { felix: 'nft', gateways: 2 },
  );
}

/** `n` new connections, one after the other: the gateways they left through. */
async function newConnections(fl: FailoverLab, n: number): Promise<Array<string | undefined>> {
  const out: Array<string | undefined> = [];
  for (let i = 0; i < n; i++) out.push(await fl.connect());
  return out;
}

function failedBy(report: FlowReport): Record<string, number> {
  return report.failedByGateway;
}

describe('failover: a gateway that dies, is cut off, turns 503 or drains; none ready; a rolling update', () => {
  it('SIGKILL: new connections leave through the other gateway; no connection fails, not even the killed daemon\'s own (its pod\'s kernel still forwards them while the kubelet restarts it)', (t) =>
    withFailoverLab(t, { agentEnv: { AGENT_FLOW_GRACE: '60s' } }, async (fl, lab) => {
      const flows = await startFlows(lab, lab.names.cpod, ECHO_PORT, 16, 100);
      const churn = await fl.churn(50, 500);
      await sleep(500);
      await churn.mark('kill');
      await fl.kill('gw-a');
      await fl.untilGroup([B], 'gw-a out of the group');
      await churn.mark('switched');
      assert.deepEqual(new Set(await newConnections(fl, 10)), new Set([B]), 'new connections: gw-b only');
      await sleep(500);
      await churn.mark('restart');
      await fl.restart('gw-a');
      await fl.untilGroup([A, B], 'gw-a back in the group once its stream says ready');
      const back = await newConnections(fl, 24);
      const report = await churn.stop();
      const flowReport = await flows.finish();
      assert.deepEqual(new Set(back), new Set([A, B]), 'after the restart: both again');
      assert.deepEqual(tally(connectionsBetween(report, 'switched', 'restart')), { [`ok via ${B}`]: connectionsBetween(report, 'switched', 'restart').length });
      assert.equal(report.connections.filter((c) => !c.ok).length, 0, JSON.stringify(tally(report.connections)));
      assert.equal(flowReport.failed, 0, JSON.stringify(flowReport));
      assert.ok((flowReport.byGateway[A] ?? 0) > 0 && (flowReport.byGateway[B] ?? 0) > 0, `flows through both gateways: ${JSON.stringify(flowReport.byGateway)}`);
    }));

  it('its uplink cut (silent: no FIN, no answer): new connections move to the other gateway, the ones caught mid-handshake retry there; only the cut gateway\'s established flows fail', (t) =>
    withFailoverLab(t, {}, async (fl, lab) => {
      const flows = await startFlows(lab, lab.names.cpod, ECHO_PORT, 16, 100);
      const churn = await fl.churn(50, 300);
      await sleep(500);
      await fl.cut('gw-a');
      await churn.mark('cut');
      await fl.untilGroup([B], 'gw-a out of the group');
      await churn.mark('switched');
      assert.deepEqual(new Set(await newConnections(fl, 10)), new Set([B]));
      await sleep(1500);
      await churn.mark('uncut');
      await fl.uncut('gw-a');
      await fl.untilGroup([A, B], 'gw-a back once its echo answers and a new stream says ready');
      const report = await churn.stop();
      const flowReport = await flows.finish();
      assert.deepEqual(new Set(await newConnections(fl, 24)), new Set([A, B]));
      // Started after the cut: none failed (a SYN lost to gw-a is sent again, through gw-b).
      const after = connectionsBetween(report, 'cut', 'uncut');
      assert.equal(after.filter((c) => !c.ok).length, 0, JSON.stringify(tally(after)));
      assert.ok(connectionsBetween(report, 'switched', 'uncut').every((c) => c.gateway === B));
      // Before it: only gw-a's connections, established when the cut came, failed.
      const before = connectionsBetween(report, 0, 'cut');
      assert.ok(before.filter((c) => !c.ok).every((c) => c.gateway === A), JSON.stringify(tally(before)));
      // 16 flows spread by the L4 hash: both gateways carried some (else what follows proves nothing).
      assert.ok((flowReport.byGateway[A] ?? 0) > 0 && (flowReport.byGateway[B] ?? 0) > 0, `flows through both gateways: ${JSON.stringify(flowReport.byGateway)}`);
      assert.deepEqual(Object.keys(failedBy(flowReport)), [A], `only gw-a's flows fail: ${JSON.stringify(flowReport)}`);
      assert.equal(flowReport.failed, flowReport.byGateway[A] ?? 0, 'every flow of gw-a failed (its path is gone)');
    }));

  it('readiness 503 (upstream lost): pushed at once, new connections move; its established flows keep working within the grace, the other gateway\'s are untouched', (t) =>
    withFailoverLab(t, { agentEnv: { AGENT_FLOW_GRACE: '60s' } }, async (fl, lab) => {
      const flows = await startFlows(lab, lab.names.cpod, ECHO_PORT, 16, 100);
      const churn = await fl.churn(50, 300);
      await sleep(500);
      await fl.unready('gw-a');
      await fl.untilGroup([B], 'gw-a out of the group');
      await churn.mark('switched');
      assert.deepEqual(new Set(await newConnections(fl, 10)), new Set([B]));
      const status = await fl.agentStatus();
      const gwA = (status.gateways as Array<Record<string, unknown>>).find((g) => g.pod === 'default/gw-a');
      assert.ok(gwA);
      assert.equal(gwA.usable, false);
      assert.equal(gwA.decidedBy, 'stream', JSON.stringify(gwA));
      assert.match(String(gwA.reason), /not ready \(stream\): icmp/);
      await fl.ready('gw-a');
      await fl.untilGroup([A, B], 'gw-a back');
      const report = await churn.stop();
      const flowReport = await flows.finish();
      assert.equal(report.connections.filter((c) => !c.ok).length, 0, JSON.stringify(tally(report.connections)));
      assert.ok((flowReport.byGateway[A] ?? 0) > 0, `gw-a carried flows through its 503 (else this proves nothing): ${JSON.stringify(flowReport.byGateway)}`);
      assert.equal(flowReport.failed, 0, JSON.stringify(flowReport));
    }));

  it('SIGTERM (drain): no new connection from the moment it says so, every connection it carries goes on until it is gone; then its pod leaves the API', (t) =>
    withFailoverLab(t, { gatewayEnv: { DRAIN_DELAY: '3s' } }, async (fl, lab) => {
      const flows = await startFlows(lab, lab.names.cpod, ECHO_PORT, 16, 100);
      const churn = await fl.churn(50, 1000);
      await sleep(500);
      await churn.mark('term');
      fl.term('gw-a');
      await fl.untilGroup([B], 'gw-a out of the group');
      await churn.mark('switched');
      assert.deepEqual(new Set(await newConnections(fl, 10)), new Set([B]));
      const status = await fl.agentStatus();
      const gwA = (status.gateways as Array<Record<string, unknown>>).find((g) => g.pod === 'default/gw-a');
      assert.deepEqual([gwA?.usable, gwA?.keepFlows, gwA?.reason], [false, true, 'draining (stream)']);
      await fl.exited('gw-a');
      await churn.mark('exited');
      // The kubelet is done with the pod: it leaves the API, and with it the pin of its flows.
      const longFlows = await flows.finish();
      await fl.removeFromApi('gw-a');
      const report = await churn.stop();
      assert.equal(report.connections.filter((c) => !c.ok).length, 0, `connections shorter than DRAIN_DELAY never fail: ${JSON.stringify(tally(report.connections))}`);
      assert.ok(connectionsBetween(report, 'switched').every((c) => c.gateway === B));
      assert.equal(longFlows.failed, 0, `until the drain ended, every flow went on, gw-a's too: ${JSON.stringify(longFlows)}`);
      assert.ok((longFlows.byGateway[A] ?? 0) > 0, 'gw-a carried flows through its drain');
    }));

  it('no gateway ready: the client fails closed (no packet leaves with another address); one ready again: back', (t) =>
    withFailoverLab(t, {}, async (fl, lab) => {
      const capture = await lab.capture(lab.names.ext, 'eth0', ['tcp', 'port', ECHO_PORT]);
      await fl.unready('gw-a');
      await fl.unready('gw-b');
      await fl.untilGroup([], 'no gateway in any group');
      const table = (await lab.exec(lab.names.node1, ['ip', 'route', 'show', 'table', '1000'])).stdout;
      assert.match(table, /^unreachable default/m);
      assert.doesNotMatch(table, /^default nhid/m);
      // The node answers "no route to host" (its ICMP rate limit lets a burst of six through, then one a
      // second: later attempts time out instead, failing all the same).
      const probe = await lab.exec(lab.names.cpod, [process.execPath, `${__dirname}/../lab/flow-load.js`, 'probe', lab.addrs.ext, ECHO_PORT, '2000'], { allowFail: true });
      assert.notEqual(probe.code, 0);
      assert.match(probe.stderr, /EHOSTUNREACH/, 'no route to host');
      assert.deepEqual(await newConnections(fl, 3), [undefined, undefined, undefined], 'every connection fails');
      await fl.ready('gw-b');
      await fl.untilGroup([B], 'gw-b back');
      assert.deepEqual(new Set(await newConnections(fl, 5)), new Set([B]));
      const seen = await capture.stop();
      const sources = new Set([...seen.matchAll(/IP (\d+\.\d+\.\d+\.\d+)\.\d+ > 198\.51\.100\.13\.7778/g)].map((m) => m[1]));
      assert.deepEqual([...sources], [B], `ext saw only gw-b's address: ${[...sources].join(', ')}`);
    }));

  it('a rolling update of the two-replica Deployment (surge one, then drain the old one): no connection shorter than DRAIN_DELAY fails', (t) =>
    withFailoverLab(t, { gatewayEnv: { DRAIN_DELAY: '3s' } }, async (fl, lab) => {
      const churn = await fl.churn(50, 1000);
      await sleep(500);
      const A2 = '100.64.2.9';
      const B2 = '100.64.2.10';
      const live = new Set([A, B]);
      for (const [old, oldAddr, fresh, addr] of [
        ['gw-a', A, 'gw-a2', A2],
        ['gw-b', B, 'gw-b2', B2],
      ] as const) {
        await fl.addGateway(fresh, await lab.addPod(lab.names.node2, addr), addr);
        live.add(addr);
        await fl.untilGroup([...live], `${fresh} in the group`);
        // The API marks the old pod deleting, then the kubelet sends SIGTERM.
        await fl.markDeleting(old);
        fl.term(old);
        live.delete(oldAddr);
        await fl.untilGroup([...live], `${old} out of the group`);
        await fl.exited(old);
        // The kubelet tears the pod down: its address is gone, and so is its pod in the API.
        await fl.destroyNetwork(old);
        await fl.removeFromApi(old);
      }
      await fl.untilGroup([A2, B2], 'the new replicas only');
      await churn.mark('rolled');
      await sleep(1500);
      const report = await churn.stop();
      assert.ok(report.connections.length > 100, `a steady churn: ${report.connections.length}`);
      assert.equal(report.connections.filter((c) => !c.ok).length, 0, JSON.stringify(tally(report.connections)));
      const used = new Set(report.connections.map((c) => c.gateway));
      for (const g of [A, B, A2, B2]) assert.ok(used.has(g), `connections through ${g}: ${JSON.stringify(tally(report.connections))}`);
      assert.ok(connectionsBetween(report, 'rolled').every((c) => c.gateway === A2 || c.gateway === B2));
    }));
});
