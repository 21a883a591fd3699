import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateReadiness, type ReadinessInputs } from '../../src/health/readiness';

const T = 90_000;
/** Ready inputs at time 1000: in sync since 100, last reconcile ok. */
const base: ReadinessInputs = {
  datastoreTimeoutMs: T,
  sync: { connected: true, firstInSyncAt: 100, lastInSyncAt: 100 },
  reconcile: { lastOk: true, lastSuccessAt: 200 },
};

interface Case {
  readonly name: string;
  readonly inputs: ReadinessInputs;
  readonly now: number;
  /** Failing checks; [] = ready. */
  readonly failing: string[];
  readonly reason?: RegExp;
  readonly reviewAt?: number;
}

const cases: Case[] = [
  { name: 'all good', inputs: base, now: 1000, failing: [] },
  {
    name: 'not ready before anything happened',
    inputs: { datastoreTimeoutMs: T, sync: { connected: false }, reconcile: {} },
    now: 0,
    failing: ['policysync', 'reconcile'],
  },
  {
    name: 'connected but before the first in_sync',
    inputs: { ...base, sync: { connected: true } },
    now: 1000,
    failing: ['policysync'],
    reason: /waiting for the first in_sync/,
  },
  {
    name: 'disconnected, still within the datastore timeout',
    inputs: { ...base, sync: { ...base.sync, connected: false, outOfSyncSince: 1000 } },
    now: 1000 + T,
    failing: [],
    reviewAt: 1000 + T + 1,
  },
  {
    name: 'disconnected longer than the datastore timeout',
    inputs: { ...base, sync: { ...base.sync, connected: false, outOfSyncSince: 1000, lastError: 'ECONNREFUSED' } },
    now: 1000 + T + 1,
    failing: ['policysync'],
    reason: /longer than HEALTH_TIMEOUT_DATASTORE/,
  },
  {
    name: 'reconnected but not in sync again, past the timeout',
    inputs: { ...base, sync: { ...base.sync, connected: true, outOfSyncSince: 1000 } },
    now: 1000 + T + 1,
    failing: ['policysync'],
  },
  {
    name: 'no reconcile finished yet',
    inputs: { ...base, reconcile: {} },
    now: 1000,
    failing: ['reconcile'],
    reason: /no kernel reconcile/,
  },
  {
    name: 'last reconcile failed',
    inputs: { ...base, reconcile: { lastOk: false, lastSuccessAt: 200, lastError: 'programming route: ENETUNREACH', lastErrorAt: 900 } },
    now: 1000,
    failing: ['reconcile'],
    reason: /failed: programming route: ENETUNREACH/,
  },
  {
    name: 'ICMP configured, never answered',
    inputs: { ...base, icmp: { timeoutMs: 15_000, targets: [{ target: '198.51.100.1', lastError: 'no answer', lastErrorAt: 900 }] } },
    now: 1000,
    failing: ['icmp'],
    reason: /no ICMP target has answered yet/,
  },
  {
    name: 'ICMP: one of two targets answered inside the window (edge included)',
    inputs: {
      ...base,
      icmp: {
        timeoutMs: 15_000,
        targets: [
          { target: '198.51.100.1', lastSuccessAt: 5000 },
          { target: '198.51.100.2', lastErrorAt: 19_000, lastError: 'no answer within 5000ms' },
        ],
      },
    },
    now: 20_000,
    failing: [],
    reviewAt: 20_001,
  },
  {
    name: 'ICMP: last answer older than the window',
    inputs: { ...base, icmp: { timeoutMs: 15_000, targets: [{ target: '198.51.100.1', lastSuccessAt: 5000 }] } },
    now: 20_001,
    failing: ['icmp'],
    reason: /no ICMP target answered within the last 15000ms/,
  },
  {
    name: 'HTTP: healthy while ICMP is not configured',
    inputs: { ...base, http: { timeoutMs: 10_000, targets: [{ target: 'http://198.51.100.1/', lastSuccessAt: 900 }] } },
    now: 1000,
    failing: [],
    reviewAt: 10_901,
  },
  {
    name: 'HTTP stale and ICMP fresh: not ready, HTTP named',
    inputs: {
      ...base,
      icmp: { timeoutMs: 15_000, targets: [{ target: '198.51.100.1', lastSuccessAt: 30_000 }] },
      http: { timeoutMs: 10_000, targets: [{ target: 'http://198.51.100.1/', lastSuccessAt: 1000 }] },
    },
    now: 30_000,
    failing: ['http'],
  },
  {
    name: 'HTTP configured with no targets answering and no history',
    inputs: { ...base, http: { timeoutMs: 10_000, targets: [{ target: 'http://198.51.100.1/' }] } },
    now: 1000,
    failing: ['http'],
  },
  {
    name: 'draining beats everything else',
    inputs: { ...base, drainingSince: 900 },
    now: 1000,
    failing: ['drain'],
    reason: /draining/,
  },
  {
    name: 'several failures are all named, in a fixed order',
    inputs: { ...base, reconcile: { lastOk: false }, drainingSince: 1, sync: { connected: false } },
    now: 1000,
    failing: ['policysync', 'reconcile', 'drain'],
  },
];

for (const c of cases) {
  test(`readiness: ${c.name}`, () => {
    const r = evaluateReadiness(c.inputs, c.now);
    assert.deepEqual(r.failing, c.failing);
    assert.equal(r.ready, c.failing.length === 0);
    if (c.reason) {
      const first = c.failing[0] as keyof typeof r.checks;
      assert.match(r.checks[first]?.reason ?? '', c.reason);
    }
    if (c.reviewAt !== undefined) assert.equal(r.reviewAt, c.reviewAt);
    // Checks not configured are absent, not "ok".
    assert.equal('icmp' in r.checks, c.inputs.icmp !== undefined);
    assert.equal('http' in r.checks, c.inputs.http !== undefined);
  });
}

test('readiness: the review time is where the answer really flips', () => {
  const inputs: ReadinessInputs = {
    ...base,
    sync: { ...base.sync, connected: false, outOfSyncSince: 2000 },
    icmp: { timeoutMs: 15_000, targets: [{ target: '198.51.100.1', lastSuccessAt: 3000 }] },
  };
  const r1 = evaluateReadiness(inputs, 2500);
  assert.equal(r1.ready, true);
  assert.equal(r1.reviewAt, 18_001); // the ICMP window closes long before the datastore timeout
  assert.equal(evaluateReadiness(inputs, 18_000).ready, true);
  const r2 = evaluateReadiness(inputs, 18_001);
  assert.deepEqual(r2.failing, ['icmp']);
  assert.equal(r2.reviewAt, 92_001);
  assert.deepEqual(evaluateReadiness(inputs, 92_001).failing, ['policysync', 'icmp']);
  assert.equal(evaluateReadiness(inputs, 92_001).reviewAt, undefined);
});

test('readiness: reports last success and last error per check', () => {
  const r = evaluateReadiness(
    {
      ...base,
      reconcile: { lastOk: false, lastSuccessAt: 200, lastError: 'boom', lastErrorAt: 900 },
      icmp: {
        timeoutMs: 15_000,
        targets: [
          { target: '198.51.100.1', lastSuccessAt: 700, lastErrorAt: 800, lastError: 'a' },
          { target: '198.51.100.2', lastSuccessAt: 600, lastErrorAt: 950, lastError: 'b' },
        ],
      },
    },
    1000,
  );
  assert.deepEqual(
    { s: r.checks.reconcile?.lastSuccessAt, e: r.checks.reconcile?.lastError, t: r.checks.reconcile?.lastErrorAt },
    { s: 200, e: 'boom', t: 900 },
  );
  assert.deepEqual(
    { s: r.checks.icmp?.lastSuccessAt, e: r.checks.icmp?.lastError, t: r.checks.icmp?.lastErrorAt, n: r.checks.icmp?.targets?.length },
    { s: 700, e: '198.51.100.2: b', t: 950, n: 2 },
  );
});
