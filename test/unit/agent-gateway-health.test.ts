import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import pino from 'pino';
import { GatewayHealthMonitor, httpReadinessProbe } from '../../src/agent/gateway-health/monitor';
import { FELIX_HEALTH_POLICY, gatewayVerdict, newRecord, readinessUrl, recordPoll, type ProbeRecord } from '../../src/agent/gateway-health/state';
import { FakeClock } from '../../src/model/clock';
import { gateway } from './agent-fixtures';

const quiet = pino({ level: 'silent' });

describe('gateway health: the record', () => {
  const policy = FELIX_HEALTH_POLICY;
  const steps = (oks: boolean[]): string[] => {
    let r = newRecord('default/gw', 'http://100.64.2.7:8080/readiness', 0);
    return oks.map((ok, i) => {
      r = recordPoll(r, ok, (i + 1) * 10_000, policy, ok ? undefined : 'HTTP 503');
      return `${r.state}/${r.failures}`;
    });
  };
  it('Felix: up after a success, down after the third failure in a row, back after one success', () => {
    assert.deepEqual(steps([true, false, false, false, false, true]), ['up/0', 'up/1', 'up/2', 'down/3', 'down/4', 'up/0']);
  });
  it('a failure between successes resets the count', () => {
    assert.deepEqual(steps([true, false, false, true, false, false]), ['up/0', 'up/1', 'up/2', 'up/0', 'up/1', 'up/2']);
  });
  it('never answered: pending until the threshold, then down', () => {
    assert.deepEqual(steps([false, false, false]), ['pending/1', 'pending/2', 'down/3']);
  });
  it('no health port: unprobed, and no URL', () => {
    const g = gateway('default/gw', '100.64.2.7', { healthPort: undefined as unknown as number });
    const { healthPort: _h, ...noPort } = g;
    assert.equal(readinessUrl(noPort), undefined);
    assert.equal(newRecord('k', undefined, 0).state, 'unprobed');
  });
  it('URL: the IPv4 address, the health port, /readiness', () => {
    assert.equal(readinessUrl(gateway('default/gw', '100.64.2.7', { ips: ['2001:db8::7', '100.64.2.7'] })), 'http://100.64.2.7:8080/readiness');
    assert.equal(readinessUrl(gateway('default/gw', '2001:db8::7')), 'http://[2001:db8::7]:8080/readiness');
  });
});

describe('gateway health: the verdict', () => {
  const rec = (state: ProbeRecord['state']): ProbeRecord => ({ ...newRecord('k', 'u', 0), state, failures: state === 'down' ? 3 : 0 });
  const cases: [string, Parameters<typeof gateway>[2], ProbeRecord | undefined, boolean][] = [
    ['ready, poll up', {}, rec('up'), true],
    ['ready, poll pending', {}, rec('pending'), true],
    ['ready, no port', {}, rec('unprobed'), true],
    ['ready, poll down', {}, rec('down'), false],
    ['not Ready in Kubernetes, poll up', { ready: false }, rec('up'), false],
    ['terminating, poll up', { deleting: true }, rec('up'), false],
    ['no address', { ips: [] }, rec('up'), false],
  ];
  for (const [name, o, r, usable] of cases) it(name, () => assert.equal(gatewayVerdict(gateway('default/gw', '100.64.2.7', o), r).usable, usable));
});

describe('gateway health: the monitor', () => {
  it('polls at once, then every interval; three failures drop the gateway, one success takes it back', async () => {
    const clock = new FakeClock();
    const answers: boolean[] = [true, false, false, false, true];
    const urls: string[] = [];
    const changes: string[] = [];
    const monitor = new GatewayHealthMonitor({
      clock,
      logger: quiet,
      policy: FELIX_HEALTH_POLICY,
      probe: (url) => {
        urls.push(url);
        const ok = answers.shift() ?? true;
        return Promise.resolve({ ok, detail: ok ? 'HTTP 200' : 'HTTP 503' });
      },
      onChange: (key, r) => changes.push(`${key} ${r.state}`),
    });
    const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
    monitor.setTargets([gateway('default/gw', '100.64.2.7')]);
    clock.advance(0);
    await settle();
    assert.deepEqual(changes, ['default/gw up']);
    for (let i = 0; i < 3; i++) {
      clock.advance(10_000);
      await settle();
    }
    assert.deepEqual(changes, ['default/gw up', 'default/gw down']);
    clock.advance(10_000);
    await settle();
    assert.deepEqual(changes, ['default/gw up', 'default/gw down', 'default/gw up']);
    assert.equal(urls.length, 5);
    assert.ok(urls.every((u) => u === 'http://100.64.2.7:8080/readiness'));
    // Removed: no more polls.
    monitor.setTargets([]);
    clock.advance(60_000);
    await settle();
    assert.equal(urls.length, 5);
    assert.equal(monitor.all().length, 0);
    monitor.stop();
  });

  it('a new address starts the gateway over as pending', () => {
    const clock = new FakeClock();
    const monitor = new GatewayHealthMonitor({ clock, logger: quiet, policy: FELIX_HEALTH_POLICY, probe: () => new Promise(() => undefined), onChange: () => undefined });
    monitor.setTargets([gateway('default/gw', '100.64.2.7')]);
    monitor.setTargets([gateway('default/gw', '100.64.2.8')]);
    assert.equal(monitor.get('default/gw')?.url, 'http://100.64.2.8:8080/readiness');
    assert.equal(monitor.get('default/gw')?.state, 'pending');
    monitor.stop();
  });
});

describe('gateway health: the HTTP probe', () => {
  it('200 is ok; 503, a refused connection and a timeout are failures with a reason', async () => {
    let status = 200;
    let hang = false;
    const server = createServer((req, res) => {
      if (hang) return;
      res.writeHead(req.url === '/readiness' ? status : 404);
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/readiness`;
    try {
      assert.deepEqual(await httpReadinessProbe(url, 1000), { ok: true, detail: 'HTTP 200' });
      status = 503;
      assert.deepEqual(await httpReadinessProbe(url, 1000), { ok: false, detail: 'HTTP 503' });
      hang = true;
      assert.deepEqual(await httpReadinessProbe(url, 100), { ok: false, detail: 'no answer within 100 ms' });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    const refused = await httpReadinessProbe(url, 1000);
    assert.equal(refused.ok, false);
    assert.equal(refused.detail, 'ECONNREFUSED');
  });
});
