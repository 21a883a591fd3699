import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CT_DELETE_TYPE,
  CT_GET_TYPE,
  CT_NEW_TYPE,
  ConntrackDecodeError,
  IPS_SRC_NAT,
  NFNLGRP_CONNTRACK_DESTROY,
  NFNLGRP_CONNTRACK_NEW,
  NFNLGRP_CONNTRACK_UPDATE,
  decodeConntrack,
  dumpRequestPayload,
  isSourceNatted,
  splitMessages,
  type ConntrackEvent,
} from '../../src/kernel/netlink/conntrack';
import { tupleText } from '../../src/audit/tracker';
import { SNAT_TCP, STATUS_SNAT, STATUS_SNAT_ASSURED, attr, header, message, nest, payload, type MessageSpec } from './audit-wire';

function decode(m: MessageSpec): ConntrackEvent | undefined {
  const { type, flags } = header(m);
  return decodeConntrack(type, flags, payload(m));
}

/** A readable summary, so a table of cases compares text. */
function summary(e: ConntrackEvent | undefined): string {
  if (!e) return 'none';
  const parts = [e.kind, `family=${e.family}`, `orig=${tupleText(e.orig)}`, `reply=${tupleText(e.reply)}`];
  if (e.status !== undefined) parts.push(`status=0x${e.status.toString(16)}`);
  if (e.id !== undefined) parts.push(`id=${e.id}`);
  if (e.countersOrig) parts.push(`out=${e.countersOrig.packets}p/${e.countersOrig.bytes}B`);
  if (e.countersReply) parts.push(`in=${e.countersReply.packets}p/${e.countersReply.bytes}B`);
  if (e.startNs !== undefined) parts.push(`start=${e.startNs}`);
  if (e.stopNs !== undefined) parts.push(`stop=${e.stopNs}`);
  return parts.join(' ');
}

describe('ctnetlink constants (uapi)', () => {
  it('groups and message types are the kernel numbers', () => {
    assert.deepEqual([NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE, NFNLGRP_CONNTRACK_DESTROY], [1, 2, 3]);
    assert.deepEqual([CT_NEW_TYPE, CT_GET_TYPE, CT_DELETE_TYPE], [0x100, 0x101, 0x102]);
    assert.equal(IPS_SRC_NAT, 16);
    assert.deepEqual([...dumpRequestPayload(10)], [10, 0, 0, 0]);
  });
});

describe('decodeConntrack', () => {
  it('a NEW event, byte for byte as the kernel lays it out', () => {
    // nfgenmsg AF_INET, then CTA_TUPLE_ORIG{IP{V4_SRC,V4_DST}, PROTO{NUM,SRC_PORT,DST_PORT}}, CTA_TUPLE_REPLY, CTA_STATUS, CTA_ID.
    const hex = [
      '02000000',
      '3400 0180', '1400 0180', '0800 0100 64400105', '0800 0200 cb00710a',
      '1c00 0280', '0500 0100 06000000', '0600 0200 9c400000', '0600 0300 01bb0000',
      '3400 0280', '1400 0180', '0800 0100 cb00710a', '0800 0200 64400207',
      '1c00 0280', '0500 0100 06000000', '0600 0200 01bb0000', '0600 0300 9c400000',
      '0800 0300 00000198',
      '0800 0c00 12345678',
    ].join('').replace(/ /g, '');
    const e = decodeConntrack(0x100, 0x600, Buffer.from(hex, 'hex'));
    assert.equal(
      summary(e),
      'new family=2 orig=tcp 100.64.1.5:40000 > 203.0.113.10:443 reply=tcp 203.0.113.10:443 > 100.64.2.7:40000 status=0x198 id=305419896',
    );
    assert.ok(e && isSourceNatted(e));
  });

  const cases: { name: string; spec: MessageSpec; want: string }[] = [
    {
      name: 'DESTROY with counters and timestamps (u64 big-endian)',
      spec: {
        kind: 'destroy',
        ...SNAT_TCP,
        status: STATUS_SNAT_ASSURED,
        id: 7,
        counters: { orig: [6n, 325n], reply: [4n, 0x1_0000_0001n] },
        timestamp: { start: 1_700_000_000_123_456_789n, stop: 1_700_000_001_123_456_789n },
      },
      want:
        'destroy family=2 orig=tcp 100.64.1.5:40000 > 203.0.113.10:443 reply=tcp 203.0.113.10:443 > 100.64.2.7:40000 status=0x39e id=7 ' +
        'out=6p/325B in=4p/4294967297B start=1700000000123456789 stop=1700000001123456789',
    },
    {
      name: 'NEW-type message without NLM_F_CREATE is an update',
      spec: { kind: 'update', ...SNAT_TCP, status: STATUS_SNAT },
      want: 'update family=2 orig=tcp 100.64.1.5:40000 > 203.0.113.10:443 reply=tcp 203.0.113.10:443 > 100.64.2.7:40000 status=0x198',
    },
    {
      name: 'IPv6 UDP',
      spec: {
        kind: 'new',
        family: 10,
        orig: { src: '2001:db8:1:0:0:0:0:5', dst: '2001:db8:ff:0:0:0:0:10', proto: 17, sport: 5353, dport: 53 },
        reply: { src: '2001:db8:ff:0:0:0:0:10', dst: '2001:db8:2:0:0:0:0:7', proto: 17, sport: 53, dport: 61000 },
        status: STATUS_SNAT,
      },
      want: 'new family=10 orig=udp [2001:db8:1::5]:5353 > [2001:db8:ff::10]:53 reply=udp [2001:db8:ff::10]:53 > [2001:db8:2::7]:61000 status=0x198',
    },
    {
      name: 'ICMP has no ports',
      spec: {
        kind: 'new',
        orig: { src: '100.64.1.5', dst: '198.51.100.13', proto: 1 },
        reply: { src: '198.51.100.13', dst: '100.64.2.7', proto: 1 },
      },
      want: 'new family=2 orig=icmp 100.64.1.5 > 198.51.100.13 reply=icmp 198.51.100.13 > 100.64.2.7',
    },
  ];
  for (const c of cases) it(c.name, () => assert.equal(summary(decode(c.spec)), c.want));

  it('messages of other subsystems and expectation messages are not conntrack entries', () => {
    const p = payload({ kind: 'new', ...SNAT_TCP });
    assert.equal(decodeConntrack(0x200, 0, p), undefined, 'CTNETLINK_EXP');
    assert.equal(decodeConntrack(0x101, 0, p), undefined, 'a GET is a request, not an entry');
  });

  it('cut or inconsistent messages throw ConntrackDecodeError', () => {
    const good = payload({ kind: 'new', ...SNAT_TCP, status: STATUS_SNAT });
    const bad: [string, Buffer][] = [
      ['no nfgenmsg', Buffer.from([2, 0])],
      ['cut inside an attribute', good.subarray(0, good.length - 6)],
      ['no reply tuple', Buffer.concat([good.subarray(0, 4), attr(1, Buffer.alloc(0), true)])],
      ['a v4 address of 3 bytes', Buffer.concat([Buffer.from([2, 0, 0, 0]), nest(1, nest(1, attr(1, Buffer.from([1, 2, 3])), attr(2, Buffer.from([1, 2, 3, 4]))), nest(2, attr(1, Buffer.from([6])))), nest(2)])],
      ['an attribute length below its header', Buffer.concat([Buffer.from([2, 0, 0, 0]), Buffer.from([2, 0, 1, 0])])],
    ];
    for (const [name, buf] of bad) assert.throws(() => decodeConntrack(0x100, 0x600, buf), ConntrackDecodeError, name);
  });

  it('source NAT is read from the status bit, or from the tuples when the status is absent', () => {
    const plain = { orig: SNAT_TCP.orig, reply: { ...SNAT_TCP.reply, dst: '100.64.1.5' } };
    const cases: [string, MessageSpec, boolean][] = [
      ['status with IPS_SRC_NAT', { kind: 'new', ...SNAT_TCP, status: STATUS_SNAT }, true],
      ['status without it (DNAT only)', { kind: 'new', ...SNAT_TCP, status: 0x8 | 0x20 }, false],
      ['no status, reply to another address', { kind: 'new', ...SNAT_TCP }, true],
      ['no status, untranslated', { kind: 'new', ...plain }, false],
    ];
    for (const [name, spec, want] of cases) {
      const e = decode(spec);
      assert.ok(e, name);
      assert.equal(isSourceNatted(e), want, name);
    }
  });
});

describe('splitMessages', () => {
  it('walks every message of a datagram, with its header fields', () => {
    const a = message({ kind: 'new', ...SNAT_TCP, status: STATUS_SNAT }, 0);
    const b = message({ kind: 'destroy', ...SNAT_TCP, status: STATUS_SNAT_ASSURED }, 9);
    const msgs = splitMessages(Buffer.concat([a, b]));
    assert.deepEqual(
      msgs.map((m) => [m.type, m.flags, m.seq, m.payload.length]),
      [
        [0x100, 0x600, 0, a.length - 16],
        [0x102, 0, 9, b.length - 16],
      ],
    );
  });

  it('a length that overruns the datagram is an error, not a crash', () => {
    const a = message({ kind: 'new', ...SNAT_TCP });
    a.writeUInt32LE(a.length + 40, 0);
    assert.throws(() => splitMessages(a), ConntrackDecodeError);
  });
});
