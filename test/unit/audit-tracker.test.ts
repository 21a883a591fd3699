import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeConntrack, type ConntrackEvent } from '../../src/kernel/netlink/conntrack';
import { TokenBucket } from '../../src/audit/rate-limit';
import { SnatTracker } from '../../src/audit/tracker';
import { parseCidr, type IpAddress } from '../../src/model/ip';
import { SNAT_TCP, STATUS_SNAT, STATUS_SNAT_ASSURED, header, payload, type MessageSpec, type TupleSpec } from './audit-wire';

const T0 = Date.UTC(2024, 4, 1, 14, 2, 0);

/** The addresses and ports of SNAT_TCP as every record of it names them. */
const SNAT_TCP_ENDS = {
  protocol: 'tcp',
  clientIp: '100.64.1.5',
  clientPort: 40000,
  egressIp: '100.64.2.7',
  egressPort: 40000,
  dstIp: '203.0.113.10',
  dstPort: 443,
} as const;

function ev(spec: MessageSpec): ConntrackEvent {
  const { type, flags } = header(spec);
  const e = decodeConntrack(type, flags, payload(spec));
  assert.ok(e);
  return e;
}

/** A SNATed TCP connection from pod `src`:`sport` to `dst`:`dport`, egressing as 100.64.2.7:`eport`. */
function conn(kind: 'new' | 'destroy', src: string, sport: number, dst: string, dport: number, eport = sport, extra: Partial<MessageSpec> = {}): ConntrackEvent {
  const orig: TupleSpec = { src, dst, proto: 6, sport, dport };
  const reply: TupleSpec = { src: dst, dst: '100.64.2.7', proto: 6, sport: dport, dport: eport };
  return ev({ kind, orig, reply, status: kind === 'new' ? STATUS_SNAT : STATUS_SNAT_ASSURED, ...extra });
}

function nodes(table: Record<string, string>): (ip: IpAddress) => string | undefined {
  const blocks = Object.entries(table).map(([cidr, node]) => ({ cidr: parseCidr(cidr) ?? assert.fail(cidr), node }));
  return (ip) => blocks.find((b) => b.cidr.family === ip.family && parseCidr(`${ip.text}/${b.cidr.prefixLength}`)?.text === b.cidr.text)?.node;
}

describe('SnatTracker', () => {
  it('a connection gives a start line and an end line with counters, node and duration', () => {
    const t = new SnatTracker({ nodeFor: nodes({ '100.64.1.0/26': 'node1' }) });
    const start = t.handle(ev({ kind: 'new', ...SNAT_TCP, status: STATUS_SNAT, id: 42 }), T0);
    assert.deepEqual(start, {
      started: 'tcp',
      record: {
        event: 'start',
        time: '2024-05-01T14:02:00.000Z',
        ...SNAT_TCP_ENDS,
        clientNode: 'node1',
        ctId: 42,
      },
    });
    assert.equal(t.active, 1);
    const end = t.handle(
      ev({ kind: 'destroy', ...SNAT_TCP, status: STATUS_SNAT_ASSURED, id: 42, counters: { orig: [6n, 325n], reply: [4n, 221n] } }),
      T0 + 61_500,
    );
    assert.deepEqual(end, {
      ended: 'tcp',
      record: {
        event: 'end',
        time: '2024-05-01T14:03:01.500Z',
        ...SNAT_TCP_ENDS,
        clientNode: 'node1',
        ctId: 42,
        start: '2024-05-01T14:02:00.000Z',
        durationMs: 61_500,
        packetsOut: 6,
        bytesOut: 325,
        packetsIn: 4,
        bytesIn: 221,
      },
    });
    assert.equal(t.active, 0);
    assert.equal(t.dump(), 'connections:\n\nport use:\n\n');
  });

  it("kernel timestamps win over arrival times; the node is the one at the connection's start", () => {
    let node = 'node1';
    const t = new SnatTracker({ nodeFor: () => node });
    const startNs = BigInt(T0) * 1_000_000n + 250_000n;
    const s = t.handle(ev({ kind: 'new', ...SNAT_TCP, status: STATUS_SNAT, timestamp: { start: startNs } }), T0 + 3);
    assert.equal(s.record?.time, '2024-05-01T14:02:00.000Z');
    node = 'node9';
    const e = t.handle(ev({ kind: 'destroy', ...SNAT_TCP, status: STATUS_SNAT_ASSURED, timestamp: { start: startNs, stop: startNs + 2_000_000_000n } }), T0 + 90_000);
    assert.equal(e.record?.time, '2024-05-01T14:02:02.000Z');
    assert.equal(e.record.event === 'end' && e.record.durationMs, 2000);
    assert.equal(e.record.clientNode, 'node1');
  });

  it('an end without a seen start is still logged (node looked up now) but does not count as ended', () => {
    const t = new SnatTracker({ nodeFor: () => 'node2' });
    const e = t.handle(ev({ kind: 'destroy', ...SNAT_TCP, status: STATUS_SNAT_ASSURED }), T0);
    assert.equal(e.ended, undefined);
    assert.deepEqual(e.record, {
      event: 'end',
      time: '2024-05-01T14:02:00.000Z',
      ...SNAT_TCP_ENDS,
      clientNode: 'node2',
    });
  });

  it('connections that are not source-NATed, and update events, are ignored', () => {
    const t = new SnatTracker({ nodeFor: () => undefined });
    assert.deepEqual(t.handle(ev({ kind: 'new', ...SNAT_TCP, status: 0x8 }), T0), {});
    assert.deepEqual(t.handle(ev({ kind: 'update', ...SNAT_TCP, status: STATUS_SNAT }), T0), {});
    assert.equal(t.active, 0);
  });

  it('counts distinct egress ports per destination and lists the busiest first', () => {
    const t = new SnatTracker({ nodeFor: () => undefined });
    for (let p = 0; p < 5; p++) t.handle(conn('new', '100.64.1.5', 41000 + p, '203.0.113.10', 443), T0);
    for (let p = 0; p < 2; p++) t.handle(conn('new', '100.64.1.6', 42000 + p, '203.0.113.11', 80), T0);
    t.handle(conn('new', '100.64.1.6', 43000, '203.0.113.10', 80), T0);
    // Two clients whose source ports collide: SNAT gave the second another egress port.
    t.handle(conn('new', '100.64.1.7', 41000, '203.0.113.10', 443, 1025), T0);
    t.handle(conn('destroy', '100.64.1.5', 41004, '203.0.113.10', 443), T0);
    assert.deepEqual(t.topPortUse(2), [
      { protocol: 'tcp', destination: '203.0.113.10:443', ports: 5 },
      { protocol: 'tcp', destination: '203.0.113.11:80', ports: 2 },
    ]);
    assert.equal(t.destinations, 3);
    assert.equal(t.active, 8);
    assert.match(t.dump(), /port use:\ntcp 203\.0\.113\.10:443 ports=5\ntcp 203\.0\.113\.11:80 ports=2\ntcp 203\.0\.113\.10:80 ports=1\n$/);
  });

  it('a NEW on a tuple still tracked (its end was lost) replaces the old entry', () => {
    const t = new SnatTracker({ nodeFor: () => undefined });
    t.handle(conn('new', '100.64.1.5', 41000, '203.0.113.10', 443), T0);
    const again = t.handle(conn('new', '100.64.1.5', 41000, '203.0.113.10', 443), T0 + 1000);
    assert.equal(again.started, 'tcp');
    assert.equal(t.active, 1);
    assert.deepEqual(t.topPortUse(5), [{ protocol: 'tcp', destination: '203.0.113.10:443', ports: 1 }]);
  });

  it('beyond maxTracked a connection is logged but not tracked', () => {
    const t = new SnatTracker({ nodeFor: () => undefined, maxTracked: 2 });
    const results = [0, 1, 2].map((i) => t.handle(conn('new', '100.64.1.5', 41000 + i, '203.0.113.10', 443), T0));
    assert.deepEqual(
      results.map((r) => [r.record?.event, r.started]),
      [
        ['start', 'tcp'],
        ['start', 'tcp'],
        ['start', undefined],
      ],
    );
    assert.equal(t.active, 2);
    assert.equal(t.untracked, 1);
  });

  it('resync: tracked entries missing from the dump vanish, untracked SNAT entries are adopted, entries newer than the dump stay', () => {
    const t = new SnatTracker({ nodeFor: () => 'node1' });
    t.handle(conn('new', '100.64.1.5', 41000, '203.0.113.10', 443), T0); // in the dump
    t.handle(conn('new', '100.64.1.5', 41001, '203.0.113.10', 443), T0); // gone while deaf
    const mark = t.beginResync();
    t.handle(conn('new', '100.64.1.5', 41002, '203.0.113.10', 443), T0); // arrived after the dump was taken
    t.handle(conn('destroy', '100.64.1.5', 41003, '203.0.113.10', 443), T0); // ended during the dump
    const dump = [
      conn('new', '100.64.1.5', 41000, '203.0.113.10', 443),
      conn('new', '100.64.1.5', 41003, '203.0.113.10', 443),
      conn('new', '100.64.1.9', 50000, '198.51.100.13', 7777), // started while deaf
      ev({ kind: 'update', ...SNAT_TCP, orig: { ...SNAT_TCP.orig, src: '100.64.2.7' }, reply: { ...SNAT_TCP.reply, dst: '100.64.2.7' } }), // the gateway's own, no SNAT
    ];
    const r = t.resync(dump, mark, T0);
    assert.deepEqual(r, { vanished: 1, adopted: 1, endedProtocols: ['tcp'] });
    assert.equal(
      t.dump(),
      [
        'connections:',
        'tcp 100.64.1.5:41000 > 203.0.113.10:443 node=node1',
        'tcp 100.64.1.5:41002 > 203.0.113.10:443 node=node1',
        'tcp 100.64.1.9:50000 > 198.51.100.13:7777 node=node1',
        'port use:',
        'tcp 203.0.113.10:443 ports=2',
        'tcp 198.51.100.13:7777 ports=1',
        '',
      ].join('\n'),
    );
  });
});

describe('TokenBucket', () => {
  it('lets a burst through, then the rate', () => {
    const b = new TokenBucket(2, 3);
    assert.deepEqual([0, 0, 0, 0].map(() => b.take(1000)), [true, true, true, false]);
    assert.equal(b.take(1400), false, '0.8 of a token after 400 ms');
    assert.equal(b.take(1500), true, 'one token after 500 ms at 2/s');
    assert.equal(b.take(1500), false);
    assert.deepEqual([0, 0, 0, 0].map(() => b.take(100_000)), [true, true, true, false], 'never more than the burst');
  });

  it('a clock going backwards gives nothing extra', () => {
    const b = new TokenBucket(1, 1);
    assert.equal(b.take(5000), true);
    assert.equal(b.take(1000), false);
    assert.equal(b.take(5999), false);
    assert.equal(b.take(6000), true);
  });

  it('rejects a rate or burst it cannot honour', () => {
    assert.throws(() => new TokenBucket(0, 1), RangeError);
    assert.throws(() => new TokenBucket(1, 0), RangeError);
  });
});
