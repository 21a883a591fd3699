import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_FAILURES, buildStatus, driftOf } from '../../src/status/model';
import { HTTP_WITH_PENDING, NOW, WALL, statusInputs } from './status-fixtures';

const iso = (wall: number): string => new Date(wall).toISOString();

describe('status document', () => {
  it('a healthy gateway: ready, every section filled, clock times turned into wall-clock ISO times', () => {
    const doc = buildStatus(statusInputs());
    assert.equal(doc.format, 1);
    assert.equal(doc.ready, true);
    assert.deepEqual(doc.failing, []);
    assert.equal(doc.now, iso(WALL));
    assert.equal(doc.startedAt, iso(WALL - 3_723_000));
    assert.equal(doc.uptimeSeconds, 3723);
    assert.deepEqual(Object.keys(doc.checks), ['policysync', 'reconcile', 'icmp', 'http', 'drain']);
    assert.equal(doc.checks.policysync?.lastSuccess, iso(WALL - 12_000));
    assert.deepEqual(doc.policysync, {
      socket: '/var/run/nodeagent/socket',
      state: 'connected',
      inSync: true,
      firstInSync: iso(WALL - 60_000),
      lastInSync: iso(WALL - 12_000),
      attempts: 2,
      reconnects: 1,
      streams: 2,
      messages: { in_sync: 1, route_update: 3, route_remove: 0, vtep_update: 1, vtep_remove: 0, ignored: 2, malformed: 0 },
      lastError: 'stream ended by Felix',
      lastErrorTime: iso(WALL - 13_000),
    });
    assert.deepEqual(doc.dataplane.lastReconcile, { ok: true, at: iso(WALL - 3_000), durationMs: 4.25, full: true, operations: 5 });
    assert.deepEqual(doc.dataplane.drift, { drifted: false, reasons: [], failures: [], failuresOmitted: 0 });
    assert.deepEqual(doc.drain, { draining: false, delayMs: 10_000 });
    assert.deepEqual(doc.config, {
      statusSocket: '/tmp/egress-gateway/status.sock',
      policysyncSocket: '/var/run/nodeagent/socket',
      egressIpv4: '100.64.2.7',
      vxlanDevice: 'vxlan0',
      underlayDevice: 'eth0',
      health: { host: '100.64.2.7', port: 8080, boundPort: 8080 },
      resyncIntervalMs: 30_000,
      datastoreTimeoutMs: 90_000,
      drainDelayMs: 10_000,
      logLevel: 'info',
    });
  });

  it('probe targets: up, down but still counting within the window, pending; interval from the config', () => {
    const doc = buildStatus(statusInputs({ readinessInputs: { http: HTTP_WITH_PENDING } }));
    assert.equal(doc.ready, true, 'one answering target per kind is enough');
    assert.deepEqual(doc.probes, [
      {
        kind: 'icmp',
        intervalMs: 1000,
        timeoutMs: 3000,
        targets: [
          { target: '198.51.100.13', state: 'up', counts: true, lastSuccess: iso(WALL - 400), latencyMs: 0.313 },
          {
            target: '203.0.113.1',
            state: 'down',
            counts: true,
            lastSuccess: iso(WALL - 2_500),
            latencyMs: 1.5,
            lastError: 'no answer within 1000ms',
            lastErrorTime: iso(WALL - 500),
          },
        ],
      },
      {
        kind: 'http',
        intervalMs: 2000,
        timeoutMs: 4000,
        targets: [
          { target: 'http://203.0.113.80/health', state: 'up', counts: true, lastSuccess: iso(WALL - 1_000), latencyMs: 12.5 },
          { target: 'http://203.0.113.81/', state: 'pending', counts: false },
        ],
      },
    ]);
  });

  it('a target whose last answer is older than the timeout no longer counts', () => {
    const doc = buildStatus(
      statusInputs({ readinessInputs: { icmp: { timeoutMs: 3000, targets: [{ target: '198.51.100.13', lastSuccessAt: NOW - 3_001, lastError: 'x', lastErrorAt: NOW - 10 }] } } }),
    );
    assert.equal(doc.probes[0]?.targets[0]?.counts, false);
    assert.equal(doc.probes[0].targets[0].state, 'down');
    assert.equal(doc.ready, false);
    assert.deepEqual(doc.failing, ['icmp']);
  });

  it('not ready before the first in_sync: the failing check and its reason are in the document', () => {
    const doc = buildStatus(
      statusInputs({
        sync: { state: 'connecting', inSync: false, streams: 0, lastInSyncAt: undefined },
        reconciler: { inSync: false, lastReconcile: undefined, counts: { desired: { routes: 0, neighbours: 0, fdb: 0 }, programmed: { routes: 0, neighbours: 0, fdb: 0 } } },
        readinessInputs: { sync: { connected: false }, reconcile: {}, icmp: undefined, http: undefined },
      }),
    );
    assert.equal(doc.ready, false);
    assert.deepEqual(doc.failing, ['policysync', 'reconcile']);
    assert.equal(doc.checks.policysync?.reason, 'not yet in sync with Felix');
    assert.equal(doc.policysync.lastInSync, undefined);
    assert.equal(doc.dataplane.lastReconcile, undefined);
    assert.equal(doc.dataplane.drift.drifted, false, 'nothing desired, nothing programmed');
    assert.deepEqual(doc.probes, []);
  });

  it('draining: the drain check fails and the document says since when', () => {
    const doc = buildStatus(statusInputs({ phase: 'draining', readinessInputs: { drainingSince: NOW - 1_500 } }));
    assert.equal(doc.phase, 'draining');
    assert.deepEqual(doc.failing, ['drain']);
    assert.deepEqual(doc.drain, { draining: true, since: iso(WALL - 1_500), delayMs: 10_000 });
  });

  it('the health server: no bound port while it is not listening', () => {
    const doc = buildStatus({ ...statusInputs(), healthPort: undefined });
    assert.deepEqual(doc.config.health, { host: '100.64.2.7', port: 8080 });
  });
});

describe('drift', () => {
  const base = statusInputs().reconciler;

  const cases: { name: string; counts?: typeof base.counts; last?: typeof base.lastReconcile; failures?: string[]; want: ReturnType<typeof driftOf> }[] = [
    { name: 'equal counts, last pass ok', want: { drifted: false, reasons: [], failures: [], failuresOmitted: 0 } },
    {
      name: 'a route and an FDB entry missing',
      counts: { desired: { routes: 3, neighbours: 1, fdb: 2 }, programmed: { routes: 2, neighbours: 1, fdb: 1 } },
      want: { drifted: true, reasons: ['routes: 3 desired, 2 programmed', 'FDB entries: 2 desired, 1 programmed'], failures: [], failuresOmitted: 0 },
    },
    {
      name: 'an extra neighbour (a removal that has not happened)',
      counts: { desired: { routes: 2, neighbours: 0, fdb: 1 }, programmed: { routes: 2, neighbours: 1, fdb: 1 } },
      want: { drifted: true, reasons: ['neighbours: 0 desired, 1 programmed'], failures: [], failuresOmitted: 0 },
    },
    {
      name: 'the last pass failed: its error, and the failed entries the reconciler named',
      last: { ok: false, at: WALL, durationMs: 2, full: true, operations: 3, error: 'reconciling the return path: 1 of 3 kernel operations failed: programming route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink: ENETUNREACH' },
      failures: ['programming route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink: ENETUNREACH'],
      want: {
        drifted: true,
        reasons: ['the last reconcile failed: reconciling the return path: 1 of 3 kernel operations failed: programming route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink: ENETUNREACH'],
        failures: ['programming route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink: ENETUNREACH'],
        failuresOmitted: 0,
      },
    },
    {
      name: 'failures of an earlier pass are not listed once a pass has succeeded',
      failures: ['programming route 100.64.1.0/26: EBUSY'],
      want: { drifted: false, reasons: [], failures: [], failuresOmitted: 0 },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = { ...base, ...(c.counts ? { counts: c.counts } : {}), ...(c.last ? { lastReconcile: c.last } : {}) };
      assert.deepEqual(driftOf(r, c.failures ?? []), c.want);
    });
  }

  it(`a long failure list is cut at ${MAX_FAILURES}, with the rest counted`, () => {
    const failures = Array.from({ length: MAX_FAILURES + 7 }, (_, i) => `programming route 100.64.${i}.0/26: ENOBUFS`);
    const drift = driftOf({ ...base, lastReconcile: { ok: false, at: WALL, durationMs: 1, full: true, operations: 27, error: 'many' } }, failures);
    assert.equal(drift.failures.length, MAX_FAILURES);
    assert.equal(drift.failures[0], failures[0]);
    assert.equal(drift.failuresOmitted, 7);
  });
});
