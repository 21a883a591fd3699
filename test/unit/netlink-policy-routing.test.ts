import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeNexthop, decodeRoute, decodeRule } from '../../src/kernel/netlink/codec';
import { NetlinkPolicyRouting, nexthopEntryOf, ruleEntryOf, tableRouteEntryOf } from '../../src/kernel/netlink/policy-routing';
import { SteeringEventFilter } from '../../src/kernel/netlink/policy-routing-watch';
import { LinkIndex } from '../../src/kernel/netlink/return-path';
import type { EncodedRequests, NetlinkReply, NetlinkSession } from '../../src/kernel/netlink/session';
import { cidr, ip } from './steering-fixtures';

/** A session that records each request and answers success; its link dump names ifindex 5 "egress.calico". */
function recordingSession(): { session: NetlinkSession; sent: Buffer[]; links: LinkIndex } {
  const sent: Buffer[] = [];
  const nameBytes = Buffer.from('egress.calico\0');
  const data = Buffer.alloc(16 + ((4 + nameBytes.length + 3) & ~3));
  data.writeInt32LE(5, 4);
  data.writeUInt16LE(4 + nameBytes.length, 16);
  data.writeUInt16LE(3, 18);
  nameBytes.copy(data, 20);
  const fake = {
    dump: async (): Promise<NetlinkReply[]> => [{ type: 16, flags: 2, data }],
    requestEncoded: async (r: EncodedRequests): Promise<(Error | undefined)[]> => {
      for (let k = 0; k < r.count; k++) sent.push(Buffer.from(r.bytes.subarray(r.starts[k] as number, r.starts[k + 1] as number)));
      return new Array<Error | undefined>(r.count).fill(undefined);
    },
  };
  const session = fake as unknown as NetlinkSession;
  return { session, sent, links: new LinkIndex(session) };
}

/** The oracle: a message laid out by hand from the uapi structs. */
function attr(type: number, v: Buffer): Buffer {
  const b = Buffer.alloc((4 + v.length + 3) & ~3);
  b.writeUInt16LE(4 + v.length, 0);
  b.writeUInt16LE(type, 2);
  v.copy(b, 4);
  return b;
}
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
function message(type: number, flags: number, body: Buffer): string {
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32LE(16 + body.length, 0);
  hdr.writeUInt16LE(type, 4);
  hdr.writeUInt16LE(flags | 1 /* REQUEST */, 6);
  return Buffer.concat([hdr, body]).toString('hex');
}

describe('netlink policy routing codec', () => {
  it('writes a rule as fib_rule_hdr + FRA_SRC, FRA_PRIORITY, FRA_TABLE, FRA_PROTOCOL, and reads it back', async () => {
    const { session, sent, links } = recordingSession();
    const a = new NetlinkPolicyRouting(session, links);
    const r = { family: 4 as const, src: cidr('100.64.1.5/32'), priority: 100, table: 1000 };
    await a.addRules([r]);
    const hdr = Buffer.from([2, 0, 32, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    const body = Buffer.concat([hdr, attr(2, Buffer.from([100, 64, 1, 5])), attr(6, u32(100)), attr(15, u32(1000)), attr(21, Buffer.from([0x45]))]);
    assert.equal(sent[0]?.toString('hex'), message(32, 0x400 | 0x200, body));
    const rule = (b: Buffer, proto: number): ReturnType<typeof ruleEntryOf> => {
      const m = decodeRule(b);
      return m && ruleEntryOf(m, proto);
    };
    assert.deepEqual(rule(body, 0x45), r);
    assert.equal(rule(body, 0x46), undefined, 'another protocol: not ours');
    const withIif = Buffer.concat([body, attr(3, Buffer.from('cali-c\0'))]);
    assert.equal(rule(withIif, 0x45)?.unexpected, 'iif');
  });

  it('writes a flow pin as fib_rule_hdr (no source) + FRA_PRIORITY, FRA_TABLE, FRA_PROTOCOL, FRA_FWMARK, FRA_FWMASK, and reads it back', async () => {
    const { session, sent, links } = recordingSession();
    const a = new NetlinkPolicyRouting(session, links);
    const r = { family: 4 as const, src: cidr('0.0.0.0/0'), priority: 99, table: 1003, fwmark: { value: 0x200, mask: 0x3f00 } };
    await a.addRules([r]);
    const hdr = Buffer.from([2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    const body = Buffer.concat([hdr, attr(6, u32(99)), attr(15, u32(1003)), attr(21, Buffer.from([0x45])), attr(10, u32(0x200)), attr(16, u32(0x3f00))]);
    assert.equal(sent[0]?.toString('hex'), message(32, 0x400 | 0x200, body));
    const m = decodeRule(body);
    assert.deepEqual(m && ruleEntryOf(m, 0x45), r);
    // A mark rule with a source is not one the agent writes.
    const withSrc = Buffer.concat([Buffer.from([2, 0, 32, 0, 0, 0, 0, 1, 0, 0, 0, 0]), attr(2, Buffer.from([100, 64, 1, 5])), body.subarray(12)]);
    const odd = decodeRule(withSrc);
    assert.equal(odd && ruleEntryOf(odd, 0x45)?.unexpected, 'fwmark with a source');
  });

  it('writes nexthops and resilient groups as nhmsg + NHA_*, and reads them back', async () => {
    const { session, sent, links } = recordingSession();
    const a = new NetlinkPolicyRouting(session, links);
    await a.upsertNexthops([{ entry: { id: 7, gateway: ip('100.64.2.7'), dev: 'egress.calico' } }]);
    const single = Buffer.concat([Buffer.from([2, 0, 0x45, 0]), u32(4 /* ONLINK */), attr(1, u32(7)), attr(5, u32(5)), attr(6, Buffer.from([100, 64, 2, 7]))]);
    assert.equal(sent[0]?.toString('hex'), message(104, 0x400 | 0x200, single));

    const group = { id: 9, members: [7, 8], buckets: 512, idleTimerS: 120, unbalancedTimerS: 0 };
    await a.upsertGroups([{ entry: group, existing: group }]);
    const members = Buffer.concat([u32(7), Buffer.alloc(4), u32(8), Buffer.alloc(4)]);
    const res = Buffer.concat([attr(1, u16(512)), attr(2, u32(12000)), attr(3, u32(0))]);
    const grp = Buffer.concat([Buffer.from([0, 0, 0x45, 0]), u32(0), attr(1, u32(9)), attr(2, members), attr(3, u16(1)), attr(12 | 0x8000, res)]);
    assert.equal(sent[1]?.toString('hex'), message(104, 0x400 | 0x100, grp));

    await links.refresh();
    const nh = (b: Buffer, proto: number): ReturnType<typeof nexthopEntryOf> => {
      const m = decodeNexthop(b);
      return m && nexthopEntryOf(m, proto, (i: number) => links.nameOf(i));
    };
    assert.deepEqual(nh(single, 0x45), { kind: 'single', owned: true, id: 7, entry: { id: 7, gateway: ip('100.64.2.7'), dev: 'egress.calico' } });
    assert.deepEqual(nh(grp, 0x45), { kind: 'group', owned: true, id: 9, entry: group });
    assert.deepEqual(nh(grp, 0x10), { kind: 'group', owned: false, id: 9 }, 'a foreign one: only its id');
  });

  it('writes table routes (nhid, unreachable, throw, device) and deletes them by type, metric and nhid', async () => {
    const { session, sent, links } = recordingSession();
    const a = new NetlinkPolicyRouting(session, links);
    const nh = { table: 1000, dst: cidr('0.0.0.0/0'), type: 'nexthop' as const, nexthopId: 9, metric: 10 };
    const backstop = { table: 1000, dst: cidr('0.0.0.0/0'), type: 'unreachable' as const, metric: 0xffffffff };
    const dev = { table: 1000, dst: cidr('169.254.1.1/32'), type: 'device' as const, dev: 'egress.calico', metric: 10 };
    await a.upsertTableRoutes([{ entry: nh }, { entry: backstop }, { entry: dev }]);
    await a.removeTableRoutes([nh]);
    const rtmsg = (type: number, scope: number, len: number): Buffer => Buffer.from([2, len, 0, 0, 252, 0x45, scope, type, 0, 0, 0, 0]);
    const nhBody = Buffer.concat([rtmsg(1, 0, 0), attr(15, u32(1000)), attr(6, u32(10)), attr(30, u32(9))]);
    const backstopBody = Buffer.concat([rtmsg(7, 0, 0), attr(15, u32(1000)), attr(6, u32(0xffffffff))]);
    const devBody = Buffer.concat([rtmsg(1, 253, 32), attr(15, u32(1000)), attr(1, Buffer.from([169, 254, 1, 1])), attr(6, u32(10)), attr(4, u32(5))]);
    assert.equal(sent[0]?.toString('hex'), message(24, 0x600, nhBody));
    assert.equal(sent[1]?.toString('hex'), message(24, 0x600, backstopBody));
    assert.equal(sent[2]?.toString('hex'), message(24, 0x600, devBody));
    assert.equal(sent[3]?.toString('hex'), message(25, 0, Buffer.concat([rtmsg(1, 255, 0), attr(15, u32(1000)), attr(6, u32(10)), attr(30, u32(9))])));
    const route = (b: Buffer): ReturnType<typeof tableRouteEntryOf> => {
      const m = decodeRoute(b);
      return m && tableRouteEntryOf(m, 0x45, (i: number) => (i === 5 ? 'egress.calico' : undefined));
    };
    assert.deepEqual(route(nhBody), nh);
    assert.deepEqual(route(backstopBody), backstop);
    assert.deepEqual(route(devBody), dev);
    const mainTable = Buffer.from(nhBody);
    mainTable.writeUInt32LE(254, 12 + 4);
    assert.equal(route(mainTable), undefined, 'the main table is never ours');
  });

  it('lets through only notifications about what the agent owns', () => {
    const f = new SteeringEventFilter('egress.calico');
    const link = (_type: number, index: number, name: string): Buffer => {
      const n = Buffer.from(`${name}\0`);
      const b = Buffer.alloc(16 + ((4 + n.length + 3) & ~3));
      b.writeInt32LE(index, 4);
      b.writeUInt16LE(4 + n.length, 16);
      b.writeUInt16LE(3, 18);
      n.copy(b, 20);
      return b;
    };
    const neigh = (ifindex: number): Buffer => {
      const b = Buffer.alloc(12);
      b.writeInt32LE(ifindex, 4);
      return b;
    };
    assert.equal(f.relevant(28, neigh(5)), undefined, 'before the device is known');
    assert.equal(f.relevant(16, link(16, 5, 'egress.calico')), 'egress.calico appeared');
    assert.equal(f.relevant(16, link(16, 5, 'egress.calico')), undefined, 'the same link again');
    assert.equal(f.relevant(16, link(16, 3, 'cali-c')), undefined);
    assert.equal(f.relevant(29, neigh(5)), 'neighbour or FDB entry deleted on egress.calico');
    assert.equal(f.relevant(28, neigh(3)), undefined, 'another device');
    const ours = Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0x45, 0, 7, 0, 0, 0, 0]), attr(15, u32(1000))]);
    const felix = Buffer.concat([Buffer.from([2, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0])]);
    assert.equal(f.relevant(25, ours), 'route deleted');
    assert.equal(f.relevant(24, felix), undefined);
    assert.equal(f.relevant(105, Buffer.from([0, 0, 0x45, 0, 0, 0, 0, 0])), 'nexthop deleted');
    assert.equal(f.relevant(105, Buffer.from([0, 0, 0x11, 0, 0, 0, 0, 0])), undefined);
    assert.equal(f.relevant(17, link(17, 5, 'egress.calico')), 'egress.calico deleted');
  });
});
