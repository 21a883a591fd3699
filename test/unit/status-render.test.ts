import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDaemonConfig } from '../../src/daemon-config';
import { buildStatus } from '../../src/status/model';
import { ago, duration, ms, renderStatusTable } from '../../src/status/render';
import { CONFIG_ENV, HTTP_WITH_PENDING, NOW, WALL, statusInputs } from './status-fixtures';

/** Golden tables: the whole text, so a column that slips or a section that goes missing fails. */

const HEALTHY = `egress-gateway 0.1.0  pid 4242  running  up 1h02m
READY: yes

READINESS
  CHECK       STATE  REASON
  policysync  ok     in sync with Felix
  reconcile   ok     the last kernel reconcile succeeded
  icmp        ok     2 of 2 ICMP targets answered within 3000ms
  http        ok     1 of 1 HTTP targets answered within 4000ms
  drain       ok     not draining

POLICYSYNC
  socket        /var/run/nodeagent/socket
  state         connected, in sync
  last in_sync  12s ago (2024-05-01T11:59:48.000Z)
  streams       2 (dial attempts 2, reconnects 1)
  messages      in_sync 1, route_update 3, route_remove 0, vtep_update 1, vtep_remove 0, ignored 2, malformed 0
  last error    stream ended by Felix (13s ago)

RETURN PATH
  ENTRIES     DESIRED  PROGRAMMED
  routes            2           2
  neighbours        1           1
  fdb               1           1
  drift           none
  last reconcile  ok 3s ago, 4.3ms, full (kernel read), 5 operations
  own block       100.64.2.0/26 (node node2)
  skipped routes  1

PROBES
  KIND  TARGET                      STATE          LAST ANSWER  LATENCY  LAST ERROR
  icmp  198.51.100.13               up             400ms ago    0.3ms    -
  icmp  203.0.113.1                 DOWN (counts)  2.5s ago     1.5ms    no answer within 1000ms (500ms ago)
  http  http://203.0.113.80/health  up             1s ago       12.5ms   -
  icmp: an attempt every 1s; a target counts for 3s after its last answer
  http: an attempt every 2s; a target counts for 4s after its last answer

DRAIN
  not draining (on SIGTERM: readiness 503 for 10s, then stop)

CONFIG
  egress IP          100.64.2.7
  devices            vxlan0 (VXLAN), eth0 (underlay)
  policysync         /var/run/nodeagent/socket
  status socket      /tmp/egress-gateway/status.sock
  health server      100.64.2.7:8080
  resync every       30s
  datastore timeout  1m30s
  log level          info
`;

const STARTING = `egress-gateway 0.1.0  pid 4242  starting  up 1h02m
READY: NO (failing: policysync, reconcile)

READINESS
  CHECK       STATE  REASON
  policysync  FAIL   connected, waiting for the first in_sync from Felix
  reconcile   FAIL   no kernel reconcile has finished yet
  drain       ok     not draining

POLICYSYNC
  socket        /var/run/nodeagent/socket
  state         connected, waiting for in_sync
  last in_sync  -
  streams       1 (dial attempts 1, reconnects 0)
  messages      in_sync 0, route_update 2, route_remove 0, vtep_update 0, vtep_remove 0, ignored 0, malformed 0

RETURN PATH
  ENTRIES     DESIRED  PROGRAMMED
  routes            2           0
  neighbours        1           0
  fdb               1           0
  drift           YES
                  routes: 2 desired, 0 programmed
                  neighbours: 1 desired, 0 programmed
                  FDB entries: 1 desired, 0 programmed
  note            not in sync with Felix: the kernel is not written until the next in_sync
  last reconcile  none yet
  skipped routes  0

PROBES
  none configured (ICMP_PROBE_IPS and HTTP_PROBE_URLS are empty)

DRAIN
  not draining (on SIGTERM: readiness 503 for 10s, then stop)

CONFIG
  egress IP          100.64.2.7
  devices            vxlan0 (VXLAN), eth0 (underlay)
  policysync         /var/run/nodeagent/socket
  status socket      /tmp/egress-gateway/status.sock
  health server      100.64.2.7:8080
  resync every       30s
  datastore timeout  1m30s
  log level          info
`;

const TROUBLE = `egress-gateway 0.1.0  pid 4242  draining  up 1h02m
READY: NO (failing: reconcile, drain)

READINESS
  CHECK       STATE  REASON
  policysync  ok     disconnected; out of sync since 5000ms, within HEALTH_TIMEOUT_DATASTORE (90000ms)
  reconcile   FAIL   the last kernel reconcile failed: reconciling the return path: 2 of 3 kernel operations failed
  icmp        ok     2 of 2 ICMP targets answered within 3000ms
  http        ok     1 of 2 HTTP targets answered within 4000ms
  drain       FAIL   draining: shutting down, clients should move to another gateway

POLICYSYNC
  socket        /var/run/nodeagent/socket
  state         disconnected
  last in_sync  20s ago (2024-05-01T11:59:40.000Z)
  out of sync   since 5s ago (2024-05-01T11:59:55.000Z)
  streams       2 (dial attempts 2, reconnects 1)
  messages      in_sync 1, route_update 3, route_remove 0, vtep_update 1, vtep_remove 0, ignored 2, malformed 0
  last error    connect ECONNREFUSED /var/run/nodeagent/socket (5s ago)

RETURN PATH
  ENTRIES     DESIRED  PROGRAMMED
  routes            2           1
  neighbours        1           1
  fdb               1           0
  drift           YES
                  routes: 2 desired, 1 programmed
                  FDB entries: 1 desired, 0 programmed
                  the last reconcile failed: reconciling the return path: 2 of 3 kernel operations failed: programming route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink: ENETUNREACH (and 1 more)
  failed entries  programming route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink: ENETUNREACH
                  programming fdb 66:aa:bb:cc:dd:ee dst 198.51.100.11 dev vxlan0: EBUSY
  last reconcile  FAILED 800ms ago, 1.5ms, incremental, 3 operations
  own block       100.64.2.0/26 (node node2)
  skipped routes  1

PROBES
  KIND  TARGET                      STATE          LAST ANSWER  LATENCY  LAST ERROR
  icmp  198.51.100.13               up             400ms ago    0.3ms    -
  icmp  203.0.113.1                 DOWN (counts)  2.5s ago     1.5ms    no answer within 1000ms (500ms ago)
  http  http://203.0.113.80/health  up             1s ago       12.5ms   -
  http  http://203.0.113.81/        pending        -            -        -
  icmp: an attempt every 1s; a target counts for 3s after its last answer
  http: an attempt every 2s; a target counts for 4s after its last answer

DRAIN
  DRAINING since 2s ago (2024-05-01T11:59:58.000Z): readiness is 503; stopping 10s after it began

CONFIG
  egress IP          100.64.2.7, 2001:db8::7
  devices            vxlan0 (VXLAN), eth0 (underlay)
  policysync         /var/run/nodeagent/socket
  status socket      /run/egw/status.sock
  health server      off (HEALTH_PORT=0)
  resync every       30s
  datastore timeout  1m30s
  log level          info
`;

const startingInputs = statusInputs({
  phase: 'starting',
  sync: {
    state: 'connected',
    inSync: false,
    streams: 1,
    attempts: 1,
    reconnects: 0,
    lastInSyncAt: undefined,
    messages: { in_sync: 0, route_update: 2, route_remove: 0, vtep_update: 0, vtep_remove: 0, ignored: 0, malformed: 0 },
  },
  reconciler: {
    inSync: false,
    lastReconcile: undefined,
    counts: { desired: { routes: 2, neighbours: 1, fdb: 1 }, programmed: { routes: 0, neighbours: 0, fdb: 0 } },
    self: undefined,
    skipped: 0,
  },
  readinessInputs: { sync: { connected: true }, reconcile: {}, icmp: undefined, http: undefined },
});

const troubleInputs = {
  ...statusInputs({
    phase: 'draining',
    sync: { state: 'disconnected', inSync: false, lastInSyncAt: NOW - 20_000 },
    reconciler: {
      lastReconcile: {
        ok: false,
        at: WALL - 800,
        durationMs: 1.5,
        full: false,
        operations: 3,
        error:
          'reconciling the return path: 2 of 3 kernel operations failed: programming route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink: ENETUNREACH (and 1 more)',
      },
      counts: { desired: { routes: 2, neighbours: 1, fdb: 1 }, programmed: { routes: 1, neighbours: 1, fdb: 0 } },
    },
    reconcileFailures: [
      'programming route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink: ENETUNREACH',
      'programming fdb 66:aa:bb:cc:dd:ee dst 198.51.100.11 dev vxlan0: EBUSY',
    ],
    readinessInputs: {
      sync: {
        connected: false,
        firstInSyncAt: NOW - 60_000,
        lastInSyncAt: NOW - 20_000,
        outOfSyncSince: NOW - 5_000,
        lastError: 'connect ECONNREFUSED /var/run/nodeagent/socket',
        lastErrorAt: NOW - 5_000,
      },
      reconcile: { lastOk: false, lastSuccessAt: NOW - 30_000, lastError: 'reconciling the return path: 2 of 3 kernel operations failed', lastErrorAt: NOW - 800 },
      http: HTTP_WITH_PENDING,
      drainingSince: NOW - 2_000,
    },
  }),
  config: parseDaemonConfig({ ...CONFIG_ENV, EGRESS_POD_IPS: '100.64.2.7,2001:db8::7', HEALTH_PORT: '0', STATUS_SOCKET: '/run/egw/status.sock' }),
  healthPort: undefined,
};

describe('status table', () => {
  it('a healthy gateway', () => {
    assert.equal(renderStatusTable(buildStatus(statusInputs())), HEALTHY);
  });

  it('starting: connected, no in_sync yet, nothing programmed, no probes', () => {
    assert.equal(renderStatusTable(buildStatus(startingInputs)), STARTING);
  });

  it('trouble: stream gone, reconcile failed with named entries, a pending probe target, draining', () => {
    assert.equal(renderStatusTable(buildStatus(troubleInputs)), TROUBLE);
  });

  it('renders the document a script would get from --json the same way (a JSON round trip loses nothing)', () => {
    const doc = buildStatus(troubleInputs);
    assert.equal(renderStatusTable(JSON.parse(JSON.stringify(doc)) as typeof doc), TROUBLE);
  });
});

describe('status table: what init set up, and conflicting node addresses', () => {
  const inputs = {
    ...statusInputs({
      reconciler: {
        conflicts: [
          { address: '198.51.100.11', keptBy: 'node-a', because: 'incumbent', refused: [{ node: 'node-b', blocks: 2 }] },
          { address: '198.51.100.12', keptBy: 'node-c', because: 'first by name', refused: [{ node: 'node-d', blocks: 1 }, { node: 'node-e', blocks: 0 }] },
        ],
      },
    }),
    setup: {
      backend: 'iptables-nft',
      lastRulesetCheck: NOW - 4_000,
      drift: { 'sysctl net.ipv4.ip_forward': 1, 'ruleset ipv4': 2 },
      lastDrift: { item: 'ruleset ipv4', at: NOW - 4_000, detail: 'ruleset ipv4: rule 3 of EGRESS-GW-POSTROUTING deleted' },
      failsafeDropped: 7,
      failsafeDroppedByKind: { invalid: 5, stale: 2, escaped: 0 },
      staleFlowsDeleted: 1,
      problem: 'net.ipv4.conf.vxlan0.rp_filter is 1, not 2, and the daemon cannot set it back (/proc/sys is read-only)',
    },
  };
  /** The lines from one section's title up to the next blank line. */
  const sectionOf = (text: string, title: string): string => {
    const lines = text.split('\n');
    const at = lines.indexOf(title);
    assert.ok(at >= 0, `no ${title} section in:\n${text}`);
    const end = lines.indexOf('', at);
    return lines.slice(at, end).join('\n');
  };

  it('SETUP: the backend, the changes put back per item, the last one, fail-safe drops, a problem', () => {
    assert.equal(
      sectionOf(renderStatusTable(buildStatus(inputs)), 'SETUP'),
      [
        'SETUP',
        '  backend             iptables-nft',
        '  last ruleset check  4s ago (2024-05-01T11:59:56.000Z)',
        '  changes put back    sysctl net.ipv4.ip_forward 1, ruleset ipv4 2',
        '  last change         ruleset ipv4: rule 3 of EGRESS-GW-POSTROUTING deleted (4s ago)',
        '  fail-safe drops     7 (invalid 5, stale 2, escaped 0); stale flows deleted 1',
        '  PROBLEM             net.ipv4.conf.vxlan0.rp_filter is 1, not 2, and the daemon cannot set it back (/proc/sys is read-only)',
      ].join('\n'),
    );
  });

  it('CONFLICTS under the return path: who keeps each address and why, whose blocks are refused', () => {
    const path = sectionOf(renderStatusTable(buildStatus(inputs)), 'RETURN PATH');
    assert.match(
      path,
      /^ {2}CONFLICTS +198\.51\.100\.11: kept by node-a \(it holds the address\); refused: node-b \(2 blocks\)\n {18}198\.51\.100\.12: kept by node-c \(first by name\); refused: node-d \(1 block\), node-e \(0 blocks\)$/m,
    );
  });

  it('neither section when there is nothing to say: no guard, no conflicts', () => {
    const text = renderStatusTable(buildStatus(statusInputs()));
    assert.ok(!text.includes('SETUP'), text);
    assert.ok(!text.includes('CONFLICTS'), text);
  });
});

describe('time formats', () => {
  const cases: [number, string, string][] = [
    [0, '0ms', '0s'],
    [0.3125, '0.3ms', '0s'],
    [999, '999ms', '0s'],
    [1_500, '1.5s', '1s'],
    [12_000, '12s', '12s'],
    [184_000, '3m04s', '3m04s'],
    [3_723_000, '1h02m', '1h02m'],
    [2 * 86_400_000 + 3 * 3_600_000, '2d03h', '2d03h'],
  ];
  for (const [value, wantMs, wantDuration] of cases) {
    it(`${value} ms`, () => {
      assert.equal(ms(value), wantMs);
      assert.equal(duration(value), wantDuration);
    });
  }
  it('ago: past, future, missing, unparsable', () => {
    assert.equal(ago(WALL, new Date(WALL - 12_000).toISOString()), '12s ago');
    assert.equal(ago(WALL, new Date(WALL + 2_000).toISOString()), 'in 2s');
    assert.equal(ago(WALL, undefined), '-');
    assert.equal(ago(WALL, 'yesterday'), 'yesterday');
  });
});
