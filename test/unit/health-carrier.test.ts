import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDaemonConfig } from '../../src/daemon-config';
import { parseHealthConfig } from '../../src/config/health-config';
import { Daemon } from '../../src/daemon';
import { CarrierMonitor, carrierTargets, neighboursToRefresh } from '../../src/health/carrier';
import { FakeIcmpNetwork } from '../../src/fakes/probes';
import { Pinger } from '../../src/health/icmp';
import { ProbeRunner } from '../../src/health/probe-runner';
import { FakeReturnPathKernel } from '../../src/fakes/return-path';
import { FakeLinkWatch } from '../../src/fakes/link-watch';
import { decodeLinkCarrier } from '../../src/kernel/netlink/link-watch';
import { neighbourStateName } from '../../src/kernel/netlink/neighbour-cache';
import { FakeNeighbourCache } from '../../src/fakes/neighbour-cache';
import type { NeighbourCacheEntry } from '../../src/kernel/ports';
import { FakeClock } from '../../src/model/clock';
import { parseIp, type IpAddress } from '../../src/model/ip';
import { createLogger } from '../../src/observability/logger';
import { createMetrics, type GatewayMetrics } from '../../src/observability/metrics';
import { buildStatus } from '../../src/status/model';
import { renderStatusTable } from '../../src/status/render';
import { statusInputs } from './status-fixtures';

const ip = (s: string): IpAddress => parseIp(s) ?? assert.fail(s);
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface LogLine {
  readonly event?: string;
  readonly msg: string;
  readonly [k: string]: unknown;
}

function capture(): { logger: ReturnType<typeof createLogger>; lines: LogLine[]; events: () => string[] } {
  const lines: LogLine[] = [];
  const logger = createLogger('debug', { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines, events: () => lines.map((l) => String(l.event)) };
}

async function metricText(metrics: GatewayMetrics, name: string): Promise<string> {
  const text = await metrics.registry.metrics();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .join('\n');
}

test('carrierTargets: every ICMP target, and HTTP targets only when given by address (IPv6 without brackets)', () => {
  const health = parseHealthConfig({
    ICMP_PROBE_IPS: '198.51.100.2,2001:db8::2',
    HTTP_PROBE_URLS: 'http://203.0.113.80/health,http://[2001:db8::80]:8080/,http://example.test/',
  });
  assert.deepEqual(carrierTargets(health), ['198.51.100.2', '2001:db8::2', '203.0.113.80', '2001:db8::80']);
  assert.deepEqual(carrierTargets(parseHealthConfig({})), []);
});

test('neighboursToRefresh: only unresolved entries of the next hops, on the underlay device', () => {
  const e = (dev: string, addr: string, state: NeighbourCacheEntry['state']): NeighbourCacheEntry => ({ dev, ip: addr, state });
  const entries = [
    e('eth0', '198.51.100.1', 'incomplete'),
    e('eth0', '198.51.100.2', 'failed'),
    e('eth0', '198.51.100.3', 'reachable'),
    e('eth0', '198.51.100.4', 'permanent'),
    e('eth0', '198.51.100.5', 'noarp'),
    e('eth0', '198.51.100.6', 'stale'),
    e('eth0', '198.51.100.7', 'incomplete'),
    e('vxlan0', '198.51.100.1', 'incomplete'),
    e('eth0', '2001:db8::1', 'incomplete'),
  ];
  const hops = new Set(['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4', '198.51.100.5', '198.51.100.6', '2001:db8::1']);
  const cases: { name: string; hops: ReadonlySet<string>; want: string[] }[] = [
    { name: 'every next hop', hops, want: ['eth0 198.51.100.1', 'eth0 198.51.100.2', 'eth0 2001:db8::1'] },
    { name: 'no next hop', hops: new Set(), want: [] },
    { name: 'a resolved next hop only', hops: new Set(['198.51.100.3']), want: [] },
  ];
  for (const c of cases) {
    assert.deepEqual(
      neighboursToRefresh(entries, 'eth0', c.hops).map((x) => `${x.dev} ${x.ip}`),
      c.want,
      c.name,
    );
  }
});

function monitorSetup(targets = ['203.0.113.10', '198.51.100.2']) {
  const clock = new FakeClock(1000);
  const watch = new FakeLinkWatch();
  const cache = new FakeNeighbourCache();
  const metrics = createMetrics({ processMetrics: false });
  const log = capture();
  const rounds: { reason: string; deletedSoFar: string[] }[] = [];
  const monitor = new CarrierMonitor({
    device: 'eth0',
    watch,
    neighbours: cache,
    targets,
    // What the cache had deleted when the round was asked for: the round must come after the deletions.
    probeNow: (reason) => rounds.push({ reason, deletedSoFar: [...cache.deleted] }),
    clock,
    logger: log.logger,
    metrics,
  });
  return { clock, watch, cache, metrics, log, rounds, monitor };
}

test('carrier monitor: carrier back → unresolved next hops deleted, then a probe round at once', async () => {
  const { clock, watch, cache, metrics, log, rounds, monitor } = monitorSetup();
  // 203.0.113.10 goes via the upstream router; 198.51.100.2 is on-link.
  cache.routeVia('203.0.113.10', 'eth0', '198.51.100.1');
  cache.routeVia('198.51.100.2', 'eth0');
  watch.setCarrier('lo', true);
  watch.setCarrier('eth0', true);
  monitor.start();
  assert.equal(watch.dump(), 'state: watching\n1: lo LOWER_UP\n2: eth0 LOWER_UP\n');
  assert.deepEqual(log.events(), ['carrier_initial']);
  assert.equal(monitor.status().carrier, 'up');

  clock.advance(500);
  watch.setCarrier('eth0', false);
  // While the cable is out the kernel flushed eth0's cache and the probes left unresolved entries.
  cache.setEntry('eth0', '198.51.100.1', 'incomplete');
  cache.setEntry('eth0', '198.51.100.2', 'failed');
  cache.setEntry('eth0', '198.51.100.9', 'incomplete'); // not a probe's next hop: left alone
  cache.setEntry('eth0', '198.51.100.4', 'permanent');
  cache.setEntry('vxlan0', '198.51.100.1', 'incomplete'); // another device: left alone
  await monitor.settled();
  assert.deepEqual(rounds, [], 'losing the carrier runs nothing: the probes decide readiness');

  clock.advance(700);
  watch.setCarrier('eth0', true);
  await monitor.settled();
  assert.equal(
    cache.dump(),
    [
      'neighbours:',
      '198.51.100.4 dev eth0 PERMANENT',
      '198.51.100.9 dev eth0 INCOMPLETE',
      '198.51.100.1 dev vxlan0 INCOMPLETE',
      'deleted:',
      '198.51.100.1 dev eth0 (incomplete)',
      '198.51.100.2 dev eth0 (failed)',
      '',
    ].join('\n'),
  );
  assert.deepEqual(rounds, [{ reason: 'eth0 carrier back', deletedSoFar: ['198.51.100.1 dev eth0 (incomplete)', '198.51.100.2 dev eth0 (failed)'] }]);

  const changed = log.lines.filter((l) => l.event === 'carrier_changed');
  assert.deepEqual(
    changed.map((l) => [l.carrier, l.previousForMs, l.level]),
    [
      ['down', 500, 'info'],
      ['up', 700, 'info'],
    ],
    'each change logged at info, with how long the previous state lasted',
  );
  const recovery = log.lines.find((l) => l.event === 'carrier_recovery');
  assert.deepEqual(recovery?.nextHops, ['198.51.100.1', '198.51.100.2']);
  assert.deepEqual(recovery.deleted, ['198.51.100.1 (incomplete)', '198.51.100.2 (failed)']);

  assert.equal(
    await metricText(metrics, 'egress_gateway_underlay_'),
    [
      'egress_gateway_underlay_carrier{device="eth0"} 1',
      'egress_gateway_underlay_carrier_changes_total{device="eth0",state="down"} 1',
      'egress_gateway_underlay_carrier_changes_total{device="eth0",state="up"} 1',
      'egress_gateway_underlay_neighbours_refreshed_total{device="eth0"} 2',
    ].join('\n'),
  );
  const status = monitor.status();
  assert.deepEqual(
    { carrier: status.carrier, since: status.since, changes: status.changes, deleted: status.lastRecovery?.deleted },
    { carrier: 'up', since: 2200, changes: 2, deleted: ['198.51.100.1 (incomplete)', '198.51.100.2 (failed)'] },
  );
  await monitor.stop();
  assert.match(watch.dump(), /^state: closed/);
});

test('carrier monitor: repeated reports, other devices and reports after stop change nothing', async () => {
  const { watch, log, rounds, monitor } = monitorSetup();
  watch.setCarrier('eth0', false);
  monitor.start();
  watch.setCarrier('eth0', false);
  watch.setCarrier('vxlan0', true);
  watch.setCarrier('vxlan0', false);
  await monitor.settled();
  assert.deepEqual(log.events(), ['carrier_initial']);
  assert.equal(log.lines[0]?.level, 'warn', 'no carrier at start is a warning');
  assert.equal(monitor.status().changes, 0);
  await monitor.stop();
  watch.setCarrier('eth0', true);
  await flush();
  assert.deepEqual(rounds, []);
  assert.equal(monitor.status().carrier, 'down');
});

test('carrier monitor: a failing neighbour listing is logged and the probe round still runs', async () => {
  const { watch, cache, log, rounds, monitor } = monitorSetup(['203.0.113.10', '203.0.113.11']);
  cache.routeVia('203.0.113.10', 'eth0', '198.51.100.1');
  cache.routeVia('203.0.113.11', 'vxlan0', '198.51.100.20'); // not through the underlay: not its business
  cache.failing.list = new Error('listing the neighbour entries of eth0: EPERM');
  watch.setCarrier('eth0', true);
  monitor.start();
  watch.setCarrier('eth0', false);
  watch.setCarrier('eth0', true);
  await monitor.settled();
  const recovery = log.lines.find((l) => l.event === 'carrier_recovery');
  assert.equal(recovery?.level, 'warn');
  assert.deepEqual(recovery.nextHops, ['198.51.100.1']);
  assert.deepEqual(recovery.errors, ['listing the neighbour entries of eth0: EPERM']);
  assert.equal(rounds.length, 1);
  await monitor.stop();
});

test('carrier monitor: no probe targets, nothing to recover (the change is still logged and counted)', async () => {
  const { watch, cache, log, rounds, monitor } = monitorSetup([]);
  cache.setEntry('eth0', '198.51.100.1', 'incomplete');
  watch.setCarrier('eth0', true);
  monitor.start();
  watch.setCarrier('eth0', false);
  watch.setCarrier('eth0', true);
  await monitor.settled();
  assert.deepEqual(log.events(), ['carrier_initial', 'carrier_changed', 'carrier_changed']);
  assert.deepEqual(rounds, []);
  assert.deepEqual(cache.deleted, []);
  await monitor.stop();
});

test('probe runner: runNow attempts every target at once, drops the attempt in flight unrecorded, and restarts the schedule', async () => {
  const clock = new FakeClock();
  const net = new FakeIcmpNetwork(clock);
  const log = capture();
  const metrics = createMetrics({ processMetrics: false });
  const runner = new ProbeRunner({
    kind: 'icmp',
    targets: new Pinger(net).targets([ip('198.51.100.1')]),
    intervalMs: 1000,
    timeoutMs: 3000,
    clock,
    metrics,
    logger: log.logger,
  });
  net.setHost('198.51.100.1', { kind: 'silent' });
  runner.runNow('before start');
  assert.equal(net.dump(), '198.51.100.1 silent: sent=0 replied=0 refused=0', 'nothing runs before start');
  runner.start();
  await flush();
  clock.advance(400);
  await flush();
  assert.equal(net.dump(), '198.51.100.1 silent: sent=1 replied=0 refused=0');

  net.setHost('198.51.100.1', { kind: 'answer', latencyMs: 5 });
  runner.runNow('eth0 carrier back');
  await flush();
  assert.equal(net.dump(), '198.51.100.1 answers after 5ms: sent=2 replied=0 refused=0', 'a second request at once, not at t=1000');
  clock.advance(5);
  await flush();
  const target = runner.inputs().targets[0];
  assert.deepEqual({ s: target?.lastSuccessAt, e: target?.lastErrorAt }, { s: 405, e: undefined }, 'the superseded attempt counts as neither success nor failure');
  assert.equal((await metricText(metrics, 'egress_gateway_probe_attempts_total')).trim(), 'egress_gateway_probe_attempts_total{kind="icmp",target="198.51.100.1",result="success"} 1');

  // The schedule restarts from the round at once: the next attempt is due at 400 + 1000.
  clock.advance(1400 - 405 - 1);
  await flush();
  assert.match(net.dump(), /sent=2 /);
  clock.advance(1);
  await flush();
  assert.match(net.dump(), /sent=3 /);
  runner.stop();
  assert.deepEqual(
    log.lines.filter((l) => l.event === 'probe_round_now').map((l) => [l.kind, l.reason, l.level]),
    [['icmp', 'eth0 carrier back', 'info']],
  );
});

/** An RTM_NEWLINK/RTM_DELLINK payload: ifinfomsg, then IFLA_IFNAME. */
function linkMessage(index: number, flags: number, name?: string): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt16LE(1, 2); // ARPHRD_ETHER
  head.writeInt32LE(index, 4);
  head.writeUInt32LE(flags, 8);
  if (name === undefined) return head;
  const value = Buffer.from(`${name}\0`);
  const attr = Buffer.alloc((4 + value.length + 3) & ~3);
  attr.writeUInt16LE(4 + value.length, 0);
  attr.writeUInt16LE(3, 2); // IFLA_IFNAME
  value.copy(attr, 4);
  return Buffer.concat([head, attr]);
}

test('link watch decoding: the carrier is IFF_LOWER_UP of RTM_NEWLINK; a deleted link has none', () => {
  const UP_RUNNING_LOWER_UP = 0x1 | 0x40 | 0x10000;
  assert.deepEqual(decodeLinkCarrier(16, linkMessage(2, UP_RUNNING_LOWER_UP, 'eth0')), { name: 'eth0', index: 2, carrier: true });
  assert.deepEqual(decodeLinkCarrier(16, linkMessage(2, 0x1, 'eth0')), { name: 'eth0', index: 2, carrier: false }, 'up, no carrier (NO-CARRIER)');
  assert.deepEqual(decodeLinkCarrier(17, linkMessage(2, UP_RUNNING_LOWER_UP, 'eth0')), { name: 'eth0', index: 2, carrier: false }, 'RTM_DELLINK');
  assert.equal(decodeLinkCarrier(16, linkMessage(2, UP_RUNNING_LOWER_UP)), undefined, 'no name: nothing to match');
  assert.equal(decodeLinkCarrier(28, linkMessage(2, UP_RUNNING_LOWER_UP, 'eth0')), undefined, 'not a link message');
  assert.equal(decodeLinkCarrier(16, Buffer.alloc(8)), undefined, 'too short');
});

test('neighbour state names: the kernel\'s NUD bits to one name', () => {
  assert.equal(neighbourStateName(0x01), 'incomplete');
  assert.equal(neighbourStateName(0x20), 'failed');
  assert.equal(neighbourStateName(0x80 | 0x40), 'permanent');
  assert.equal(neighbourStateName(0x02), 'reachable');
  assert.equal(neighbourStateName(0), 'none');
});

test('status: the underlay section shows the carrier and what the last carrier-up did', () => {
  const base = statusInputs();
  const doc = buildStatus({
    ...base,
    underlay: {
      device: 'eth0',
      carrier: 'up',
      since: base.now - 2_000,
      changes: 2,
      lastRecovery: { at: base.now - 1_990, nextHops: ['198.51.100.1'], deleted: ['198.51.100.1 (incomplete)'], errors: [] },
    },
  });
  assert.deepEqual(doc.underlay, {
    device: 'eth0',
    carrier: 'up',
    since: '2024-05-01T11:59:58.000Z',
    changes: 2,
    lastRecovery: { at: '2024-05-01T11:59:58.010Z', nextHops: ['198.51.100.1'], deleted: ['198.51.100.1 (incomplete)'], errors: [] },
  });
  const text = renderStatusTable(doc);
  const section = text.slice(text.indexOf('UNDERLAY'), text.indexOf('DRAIN'));
  assert.equal(
    section,
    [
      'UNDERLAY',
      '  carrier            eth0 up since 2s ago (2024-05-01T11:59:58.000Z) (readiness is left to the probes)',
      '  changes            2',
      '  last carrier back  2s ago: next hops 198.51.100.1; deleted 198.51.100.1 (incomplete)',
      '',
      '',
    ].join('\n'),
  );
  assert.equal(buildStatus(base).underlay, undefined, 'no watch, no section');
  assert.ok(!renderStatusTable(buildStatus(base)).includes('UNDERLAY'));
});

test('daemon wiring: the monitor watches UNDERLAY_DEVICE, takes ICMP targets and HTTP targets given by address, probes every kind at once, and status shows it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'egw-carrier-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const watch = new FakeLinkWatch();
  const cache = new FakeNeighbourCache();
  watch.setCarrier('eth0', true);
  // 127.0.0.1:1 refuses at once, so the HTTP probe sends nothing anywhere; the fake routes it "via" a next hop on eth0.
  cache.routeVia('127.0.0.1', 'eth0', '198.51.100.1');
  cache.routeVia('localhost', 'eth0', '198.51.100.99');
  cache.setEntry('eth0', '198.51.100.1', 'incomplete');
  cache.setEntry('eth0', '198.51.100.99', 'incomplete');
  const log = capture();
  const config = parseDaemonConfig({
    EGRESS_POD_IP: '100.64.2.7',
    DAEMON_SOCKET_PATH: join(dir, 'felix.sock'),
    STATUS_SOCKET: join(dir, 'status.sock'),
    HEALTH_PORT: '0',
    HTTP_PROBE_URLS: 'http://127.0.0.1:1/health,http://localhost:1/',
    HTTP_PROBE_INTERVAL: '1h',
    HTTP_PROBE_TIMEOUT: '3h',
  });
  const daemon = new Daemon(config, { kernel: new FakeReturnPathKernel(), linkWatch: watch, neighbourCache: cache, logger: log.logger });
  await daemon.start();
  t.after(() => daemon.stop());
  assert.ok(daemon.carrier);
  assert.equal(daemon.status().underlay?.carrier, 'up');
  watch.setCarrier('eth0', false);
  watch.setCarrier('eth0', true);
  await daemon.carrier.settled();
  assert.deepEqual(cache.deleted, ['198.51.100.1 dev eth0 (incomplete)'], 'a target given by name is not looked up');
  assert.deepEqual(
    log.lines.filter((l) => l.event === 'probe_round_now').map((l) => l.kind),
    ['http'],
  );
  const underlay = daemon.status().underlay;
  assert.deepEqual({ carrier: underlay?.carrier, changes: underlay?.changes, deleted: underlay?.lastRecovery?.deleted }, { carrier: 'up', changes: 2, deleted: ['198.51.100.1 (incomplete)'] });
  await daemon.stop();
  assert.match(watch.dump(), /^state: closed/, 'stopping the daemon closes the watch');
});
