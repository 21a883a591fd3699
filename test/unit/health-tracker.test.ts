import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadinessTracker } from '../../src/health/tracker';
import { FakeClock } from '../../src/model/clock';
import { createLogger } from '../../src/observability/logger';
import { createMetrics } from '../../src/observability/metrics';

interface LogLine {
  level: string;
  component?: string;
  event?: string;
  ready?: boolean;
  failing?: string[];
  msg: string;
}

function setup(datastoreTimeoutMs = 90_000) {
  const clock = new FakeClock();
  const lines: LogLine[] = [];
  const logger = createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  const metrics = createMetrics({ processMetrics: false });
  const tracker = new ReadinessTracker({ clock, datastoreTimeoutMs, logger, metrics });
  const changes = () => lines.filter((l) => l.event === 'readiness_changed').map((l) => `${l.ready ? 'ready' : 'not ready'} [${(l.failing ?? []).join(',')}]`);
  return { clock, lines, tracker, metrics, changes };
}

test('tracker: ready after in_sync and a good reconcile, logged once', () => {
  const { tracker, changes, lines } = setup();
  assert.equal(tracker.report().ready, false);
  tracker.syncConnecting();
  tracker.syncConnected();
  tracker.syncInSync();
  assert.deepEqual(tracker.report().failing, ['reconcile']);
  tracker.reconcileResult(true);
  assert.equal(tracker.report().ready, true);
  tracker.report();
  tracker.report();
  assert.deepEqual(changes(), ['not ready [policysync,reconcile]', 'ready []']);
  const change = lines.find((l) => l.event === 'readiness_changed' && l.ready === true);
  assert.equal(change?.component, 'health');
  assert.equal(change.level, 'info');
});

test('tracker: a disconnect turns readiness off exactly past HEALTH_TIMEOUT_DATASTORE, with nobody asking', async () => {
  const { clock, tracker, changes, lines, metrics } = setup(90_000);
  tracker.syncConnected();
  tracker.syncInSync();
  tracker.reconcileResult(true);
  clock.advance(1000);
  tracker.syncDisconnected(new Error('read ECONNRESET'));
  clock.advance(90_000);
  assert.equal(tracker.report().ready, true, 'not before the timeout');
  clock.advance(1); // the tracker's own review timer fires here
  assert.deepEqual(changes(), ['not ready [policysync,reconcile]', 'ready []', 'not ready [policysync]']);
  const last = lines.filter((l) => l.event === 'readiness_changed').at(-1) as LogLine & { reason?: string };
  assert.equal(last.level, 'warn');
  assert.match(last.reason ?? '', /policysync: out of sync since 90001ms, longer than HEALTH_TIMEOUT_DATASTORE/);
  assert.equal(tracker.report().checks.policysync?.lastError, 'read ECONNRESET');

  // Reconnecting is not enough; the next in_sync is.
  tracker.syncConnected();
  assert.equal(tracker.report().ready, false);
  tracker.syncInSync();
  assert.equal(tracker.report().ready, true);
  const text = await metrics.registry.metrics();
  assert.match(text, /^egress_gateway_policysync_state\{state="in_sync"\} 1$/m);
  assert.match(text, /^egress_gateway_policysync_state\{state="disconnected"\} 0$/m);
  tracker.stop();
});

test('tracker: a failing reconcile makes it not ready; the next success makes it ready; metrics move', async () => {
  const { tracker, changes, metrics } = setup();
  tracker.syncConnected();
  tracker.syncInSync();
  tracker.reconcileResult(true, undefined, 12);
  tracker.reconcileResult(false, new Error('programming route 100.64.1.0/26 via vxlan0: ENETUNREACH'), 30);
  const r = tracker.report();
  assert.deepEqual(r.failing, ['reconcile']);
  assert.match(r.checks.reconcile?.reason ?? '', /ENETUNREACH/);
  tracker.reconcileResult(true);
  assert.deepEqual(changes(), ['not ready [policysync,reconcile]', 'ready []', 'not ready [reconcile]', 'ready []']);
  const text = await metrics.registry.metrics();
  assert.match(text, /^egress_gateway_reconcile_errors_total 1$/m);
  assert.match(text, /^egress_gateway_reconcile_duration_seconds_count\{result="failure"\} 1$/m);
  assert.match(text, /^egress_gateway_reconcile_duration_seconds_count\{result="success"\} 1$/m);
  assert.match(text, /^egress_gateway_ready 1$/m);
  assert.match(text, /^egress_gateway_readiness_check\{check="reconcile"\} 1$/m);
});

test('tracker: draining is for good', () => {
  const { tracker, changes } = setup();
  tracker.syncConnected();
  tracker.syncInSync();
  tracker.reconcileResult(true);
  tracker.startDrain();
  tracker.startDrain();
  tracker.reconcileResult(true);
  assert.equal(tracker.draining, true);
  assert.deepEqual(tracker.report().failing, ['drain']);
  assert.deepEqual(changes(), ['not ready [policysync,reconcile]', 'ready []', 'not ready [drain]']);
});

test('tracker: a probe window running out is noticed by the review timer', () => {
  const { clock, tracker, changes } = setup();
  let lastSuccessAt = 0;
  tracker.syncConnected();
  tracker.syncInSync();
  tracker.reconcileResult(true);
  tracker.attachProbe('icmp', { inputs: () => ({ timeoutMs: 15_000, targets: [{ target: '198.51.100.1', lastSuccessAt }] }) });
  assert.equal(tracker.report().ready, true);
  clock.advance(15_000);
  assert.deepEqual(changes(), ['not ready [policysync,reconcile]', 'ready []']);
  clock.advance(1);
  assert.deepEqual(changes(), ['not ready [policysync,reconcile]', 'ready []', 'not ready [icmp]']);
  lastSuccessAt = clock.now();
  tracker.update();
  assert.equal(tracker.report().ready, true);
  tracker.stop();
  assert.equal(clock.pendingTimers(), 0);
});
