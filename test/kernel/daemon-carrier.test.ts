import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientBlockRoute, eventually, metricValue, prepareGateway, type GatewayRun } from '../lab/gateway';
import { withLab, type Lab } from '../lab/lab';

/**
 * eth0 loses its carrier and gets it back (the node side of the pod's veth goes down, then up).
 * While it is down, the probes leave an INCOMPLETE neighbour entry for the pod's next hop
 * (169.254.1.1, the node's proxy ARP); the kernel would solicit it again only after
 * retrans_time_ms. This test sets that to 30 s in the gateway pod, so the entry stays INCOMPLETE
 * long after link-up unless the daemon deletes it: readiness coming back within the wait below,
 * the entry resolved, and the daemon's log of the deletion show the mechanism, with no timed
 * assertion on how fast it was.
 */

const NEXT_HOP = '169.254.1.1';

interface LogLine {
  readonly event?: string;
  readonly time: string;
  readonly [k: string]: unknown;
}

function events(gw: GatewayRun, name: string, since = 0): LogLine[] {
  return gw.logs
    .filter((l) => l.startsWith('{') && l.includes(`"event":"${name}"`))
    .map((l) => JSON.parse(l) as LogLine)
    .filter((e) => Date.parse(e.time) >= since);
}

function logged(gw: GatewayRun, name: string, since: number, match: (e: LogLine) => boolean = () => true): Promise<LogLine> {
  return eventually(`${name} logged`, async () => events(gw, name, since).find(match), 20_000, 50).catch((err: unknown) => {
    throw new Error(`${String(err)}\ndaemon log:\n${gw.logs.join('\n')}`);
  });
}

async function neighbourOfNextHop(lab: Lab): Promise<string> {
  const res = await lab.exec(lab.names.gwpod, ['ip', 'neigh', 'show', 'dev', 'eth0', 'to', NEXT_HOP, 'nud', 'all']);
  return res.stdout.trim();
}

describe('daemon: the underlay carrier', () => {
  it('carrier back: the INCOMPLETE next-hop entry is deleted, a probe round runs at once, readiness returns', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        await lab.exec(lab.names.gwpod, ['sysctl', '-qw', 'net.ipv4.neigh.eth0.retrans_time_ms=30000']);
        gw.startDaemon({ ICMP_PROBE_IPS: lab.addrs.ext, ICMP_PROBE_INTERVAL: '200ms', ICMP_PROBE_TIMEOUT: '600ms' });
        const initial = await logged(gw, 'carrier_initial', 0);
        assert.equal(initial.carrier, 'up');
        await logged(gw, 'readiness_changed', 0, (e) => e.ready === true);

        const cutAt = Date.now();
        await lab.exec(lab.names.node2, ['ip', 'link', 'set', 'cali-g', 'down']);
        const down = await logged(gw, 'carrier_changed', cutAt, (e) => e.carrier === 'down');
        assert.equal(down.device, 'eth0');
        const notReady = await logged(gw, 'readiness_changed', cutAt, (e) => e.ready === false);
        assert.deepEqual(notReady.failing, ['icmp'], 'the probes turned readiness 503, not the carrier');
        // The probes sent while the cable was out left the next hop unresolved.
        const stuck = await eventually('an INCOMPLETE next-hop entry', async () => {
          const n = await neighbourOfNextHop(lab);
          return /INCOMPLETE/.test(n) ? n : undefined;
        });
        assert.match(stuck, /^169\.254\.1\.1 +INCOMPLETE/);

        const upAt = Date.now();
        await lab.exec(lab.names.node2, ['ip', 'link', 'set', 'cali-g', 'up']);
        // Setting cali-g down took node2's route to the pod with it; the CNI would put it back.
        await lab.exec(lab.names.node2, ['ip', 'route', 'replace', `${lab.addrs.gwpod}/32`, 'dev', 'cali-g']);

        const up = await logged(gw, 'carrier_changed', upAt, (e) => e.carrier === 'up');
        assert.equal(typeof up.previousForMs, 'number');
        const recovery = await logged(gw, 'carrier_recovery', upAt);
        assert.deepEqual(recovery.nextHops, [NEXT_HOP]);
        assert.deepEqual(recovery.deleted, [`${NEXT_HOP} (incomplete)`]);
        assert.equal(recovery.errors, undefined);
        const round = await logged(gw, 'probe_round_now', upAt);
        assert.equal(round.kind, 'icmp');
        assert.ok(Date.parse(round.time) >= Date.parse(recovery.time), 'the round comes after the deletion');

        // With a 30 s retransmit time, only the deletion lets the next hop resolve and the probes answer this soon.
        await logged(gw, 'readiness_changed', upAt, (e) => e.ready === true);
        assert.equal((await gw.health('/readiness'))?.status, 200);
        assert.match(await neighbourOfNextHop(lab), /^169\.254\.1\.1 lladdr \S+ (REACHABLE|STALE|DELAY|PROBE)/);

        const metrics = await gw.health('/metrics');
        assert.ok(metrics);
        assert.equal(metricValue(metrics.body, 'egress_gateway_underlay_carrier', { device: 'eth0' }), 1);
        assert.equal(metricValue(metrics.body, 'egress_gateway_underlay_carrier_changes_total', { device: 'eth0', state: 'down' }), 1);
        assert.equal(metricValue(metrics.body, 'egress_gateway_underlay_carrier_changes_total', { device: 'eth0', state: 'up' }), 1);
        assert.equal(metricValue(metrics.body, 'egress_gateway_underlay_neighbours_refreshed_total', { device: 'eth0' }), 1);
      } finally {
        await gw.close();
      }
    }));
});
