import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientBlockRoute6, eventually, gatewayBlockRoute6, httpTool, metricValue, prepareGateway, type GatewayRun } from '../lab/gateway';
import { waitForOutput, withLab, type Lab } from '../lab/lab';

/**
 * Readiness from IPv6 probe targets (issue 8): ICMPv6 echo to an IPv6 address and an HTTP probe to
 * a bracketed IPv6 URL, from an IPv6-only gateway whose health server listens on its IPv6 address.
 * The external host's link going down turns readiness 503 naming both probes; up again, 200.
 */
interface Readiness {
  readonly status: number;
  readonly checks: Record<string, { ok: boolean }>;
}

async function readiness(gw: GatewayRun): Promise<Readiness | undefined> {
  const res = await gw.health('/readiness');
  if (!res) return undefined;
  return { status: res.status, checks: (JSON.parse(res.body) as { checks: Readiness['checks'] }).checks };
}

async function linkOfExt(lab: Lab, state: 'up' | 'down'): Promise<void> {
  await lab.exec(lab.names.fabric, ['ip', 'link', 'set', 'p-ext', state]);
}

describe('IPv6 probe targets', () => {
  it('ICMPv6 and an http://[v6]/ URL decide readiness of an IPv6-only gateway', (t) =>
    withLab(
      t,
      async (lab) => {
        const gw = await prepareGateway(lab, { routes: [gatewayBlockRoute6(lab), clientBlockRoute6(lab)] }, { podIps: lab.addrs6.gwpod });
        try {
          const web = lab.spawn(lab.names.ext, httpTool('serve', '8081', '204', '::'));
          await waitForOutput(web, /listening/);
          gw.startDaemon({
            ICMP_PROBE_IPS: lab.addrs6.ext,
            ICMP_PROBE_INTERVAL: '500ms',
            ICMP_PROBE_TIMEOUT: '1500ms',
            HTTP_PROBE_URLS: `http://[${lab.addrs6.ext}]:8081/health`,
            HTTP_PROBE_INTERVAL: '500ms',
            HTTP_PROBE_TIMEOUT: '1500ms',
          });
          const ready = await eventually('readiness 200', async () => {
            const r = await readiness(gw);
            return r?.status === 200 ? r : undefined;
          }, 15_000);
          assert.equal(ready.checks.icmp?.ok, true, 'the ICMPv6 probe answered');
          assert.equal(ready.checks.http?.ok, true, 'the IPv6 HTTP probe answered');

          await linkOfExt(lab, 'down');
          const down = await eventually('readiness 503 with both probes failing', async () => {
            const r = await readiness(gw);
            return r?.status === 503 && r.checks.icmp?.ok === false && r.checks.http?.ok === false ? r : undefined;
          }, 15_000);
          assert.equal(down.checks.policysync?.ok, true, 'only the probes fail');

          await linkOfExt(lab, 'up');
          await eventually('readiness 200 again', async () => ((await readiness(gw))?.status === 200 ? true : undefined), 15_000);

          const metrics = await gw.health('/metrics');
          assert.ok(metrics, 'metrics answered over IPv6');
          assert.ok(metricValue(metrics.body, 'egress_gateway_probe_attempts_total', { kind: 'icmp', result: 'success' }) >= 2);
          assert.ok(metricValue(metrics.body, 'egress_gateway_probe_attempts_total', { kind: 'icmp', result: 'failure' }) >= 1);
          assert.ok(metricValue(metrics.body, 'egress_gateway_probe_attempts_total', { kind: 'http', result: 'success' }) >= 2);
        } finally {
          await gw.close();
        }
      },
      { ipv6: 'only' },
    ));
});
