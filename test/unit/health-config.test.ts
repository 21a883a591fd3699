import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHealthConfig } from '../../src/config/health-config';
import { isGatewayError } from '../../src/errors';

test('defaults: no probes, port 8080 on the egress IP, 90s datastore timeout, 10s drain', () => {
  const c = parseHealthConfig({}, {}, '198.51.100.7');
  assert.deepEqual(
    {
      icmp: { n: c.icmp.targets.length, i: c.icmp.intervalMs, t: c.icmp.timeoutMs },
      http: { n: c.http.targets.length, i: c.http.intervalMs, t: c.http.timeoutMs },
      port: c.port,
      host: c.host,
      ds: c.datastoreTimeoutMs,
      drain: c.drainDelayMs,
    },
    { icmp: { n: 0, i: 5000, t: 15000 }, http: { n: 0, i: 10000, t: 10000 }, port: 8080, host: '198.51.100.7', ds: 90000, drain: 10000 },
  );
});

test("the seed manifest's values are accepted", () => {
  const c = parseHealthConfig({
    ICMP_PROBE_IPS: '',
    ICMP_PROBE_INTERVAL: '5s',
    ICMP_PROBE_TIMEOUT: '15s',
    HTTP_PROBE_URLS: '',
    HTTP_PROBE_INTERVAL: '10s',
    HTTP_PROBE_TIMEOUT: '30s',
    HEALTH_PORT: '8080',
  });
  assert.equal(c.icmp.targets.length, 0);
  assert.equal(c.http.targets.length, 0);
  assert.equal(c.http.timeoutMs, 30_000);
  assert.equal(c.host, '0.0.0.0');
});

test('probe lists parse, trim, drop duplicates; flags override HEALTH_PORT/HEALTH_HOST', () => {
  const c = parseHealthConfig(
    {
      ICMP_PROBE_IPS: ' 198.51.100.1, 203.0.113.9,198.51.100.1 ,2001:db8::1',
      ICMP_PROBE_INTERVAL: '100ms',
      ICMP_PROBE_TIMEOUT: '1.5s',
      HTTP_PROBE_URLS: 'http://198.51.100.1:8081/healthz,https://user:pw@example.test/',
      HEALTH_PORT: '9000',
      HEALTH_HOST: '198.51.100.9',
      HEALTH_TIMEOUT_DATASTORE: '1m30s',
      DRAIN_DELAY: '0',
    },
    { healthPort: '0', healthHost: '2001:DB8::5' },
    '198.51.100.7',
  );
  assert.deepEqual(
    c.icmp.targets.map((ip) => ip.text),
    ['198.51.100.1', '203.0.113.9', '2001:db8::1'],
  );
  assert.equal(c.icmp.intervalMs, 100);
  assert.equal(c.icmp.timeoutMs, 1500);
  assert.deepEqual(
    c.http.targets.map((u) => u.href),
    ['http://198.51.100.1:8081/healthz', 'https://user:pw@example.test/'],
  );
  assert.equal(c.port, 0);
  assert.equal(c.host, '2001:db8::5');
  assert.equal(c.datastoreTimeoutMs, 90_000);
  assert.equal(c.drainDelayMs, 0);
});

test('every bad variable is a config error that names it', () => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ ICMP_PROBE_IPS: '198.51.100.1,198.51.100.300' }, 'ICMP_PROBE_IPS', /"198.51.100.300" is not an IP address/],
    [{ ICMP_PROBE_IPS: 'gateway.example' }, 'ICMP_PROBE_IPS', /not an IP address/],
    [{ ICMP_PROBE_INTERVAL: '5' }, 'ICMP_PROBE_INTERVAL', /not a duration/],
    [{ ICMP_PROBE_INTERVAL: '50ms' }, 'ICMP_PROBE_INTERVAL', /from 100ms/],
    [{ ICMP_PROBE_INTERVAL: '0s' }, 'ICMP_PROBE_INTERVAL', /from 100ms/],
    [{ ICMP_PROBE_TIMEOUT: '15 seconds' }, 'ICMP_PROBE_TIMEOUT', /not a duration/],
    [{ ICMP_PROBE_INTERVAL: '5s', ICMP_PROBE_TIMEOUT: '4s' }, 'ICMP_PROBE_TIMEOUT', /at least ICMP_PROBE_INTERVAL/],
    [{ ICMP_PROBE_INTERVAL: '20s' }, 'ICMP_PROBE_INTERVAL', /at least ICMP_PROBE_INTERVAL/],
    [{ HTTP_PROBE_URLS: 'http://198.51.100.1/,not a url' }, 'HTTP_PROBE_URLS', /"not a url" is not a URL/],
    [{ HTTP_PROBE_URLS: 'ftp://198.51.100.1/' }, 'HTTP_PROBE_URLS', /must use http or https/],
    [{ HTTP_PROBE_INTERVAL: '10' }, 'HTTP_PROBE_INTERVAL', /not a duration/],
    [{ HTTP_PROBE_TIMEOUT: '-10s' }, 'HTTP_PROBE_TIMEOUT', /from 100ms/],
    [{ HTTP_PROBE_INTERVAL: '10s', HTTP_PROBE_TIMEOUT: '5s' }, 'HTTP_PROBE_TIMEOUT', /at least HTTP_PROBE_INTERVAL/],
    [{ HEALTH_PORT: '65536' }, 'HEALTH_PORT', /from 0 to 65535/],
    [{ HEALTH_PORT: 'http' }, 'HEALTH_PORT', /whole number/],
    [{ HEALTH_HOST: 'localhost' }, 'HEALTH_HOST', /must be an IP address/],
    [{ HEALTH_TIMEOUT_DATASTORE: '90' }, 'HEALTH_TIMEOUT_DATASTORE', /not a duration/],
    [{ DRAIN_DELAY: '10x' }, 'DRAIN_DELAY', /not a duration/],
    [{ DRAIN_DELAY: '48h' }, 'DRAIN_DELAY', /to 24h0m0s/],
  ];
  for (const [env, variable, why] of cases) {
    assert.throws(
      () => parseHealthConfig(env),
      (err: unknown) => isGatewayError(err, 'CONFIG_INVALID') && err.message.startsWith(`${variable}=`) && why.test(err.message),
      `${JSON.stringify(env)} should fail naming ${variable}`,
    );
  }
  assert.throws(
    () => parseHealthConfig({}, { healthPort: '-1' }),
    (err: unknown) => isGatewayError(err, 'CONFIG_INVALID') && err.message.startsWith('--health-port='),
  );
});
