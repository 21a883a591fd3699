import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RouteEntry } from '../../src/model/entries';
import { LinkIndex, NetlinkRoutes } from '../../src/kernel/netlink/return-path';
import type { EncodedRequests, NetlinkReply, NetlinkSession } from '../../src/kernel/netlink/session';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../../src/model/ip';

const cidr = (t: string): Cidr => parseCidr(t) ?? assert.fail(t);
const ip = (t: string): IpAddress => parseIp(t) ?? assert.fail(t);

/** A session that records the requests of each batch and answers them all with success. */
function recordingSession(): { session: NetlinkSession; sent: Buffer[] } {
  const sent: Buffer[] = [];
  // RTM_NEWLINK for ifindex 7 "vxlan0" and 9 "eth0": ifinfomsg, then IFLA_IFNAME.
  const link = (index: number, name: string): NetlinkReply => {
    const nameBytes = Buffer.from(`${name}\0`);
    const attrLen = 4 + nameBytes.length;
    const data = Buffer.alloc(16 + ((attrLen + 3) & ~3));
    data.writeInt32LE(index, 4);
    data.writeUInt16LE(attrLen, 16);
    data.writeUInt16LE(3, 18);
    nameBytes.copy(data, 20);
    return { type: 16, flags: 0, data };
  };
  const fake = {
    dump: async (): Promise<NetlinkReply[]> => [link(7, 'vxlan0'), link(9, 'eth0')],
    requestEncoded: async (r: EncodedRequests): Promise<(Error | undefined)[]> => {
      for (let k = 0; k < r.count; k++) sent.push(Buffer.from(r.bytes.subarray(r.starts[k] as number, r.starts[k + 1] as number)));
      return new Array<Error | undefined>(r.count).fill(undefined);
    },
  };
  return { session: fake as unknown as NetlinkSession, sent };
}

/** The oracle: a route message written field by field, as rtnetlink(7) lays it out. */
function expected(type: number, flags: number, r: RouteEntry, scope: number, rtType: number, rtFlags: number, oif: number | undefined): string {
  const attr = (t: number, v: Buffer): Buffer => {
    const b = Buffer.alloc((4 + v.length + 3) & ~3);
    b.writeUInt16LE(4 + v.length, 0);
    b.writeUInt16LE(t, 2);
    v.copy(b, 4);
    return b;
  };
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const rtmsg = Buffer.from([r.dst.family === 4 ? 2 : 10, r.dst.prefixLength, 0, 0, 254, 0x45, scope, rtType, 0, 0, 0, 0]);
  rtmsg.writeUInt32LE(rtFlags, 8);
  const body = Buffer.concat([
    rtmsg,
    attr(15, u32(254)),
    attr(1, Buffer.from(r.dst.address.bytes)),
    ...(oif !== undefined ? [attr(4, u32(oif))] : []),
    ...(r.gateway ? [attr(5, Buffer.from(r.gateway.bytes))] : []),
  ]);
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32LE(16 + body.length, 0);
  hdr.writeUInt16LE(type, 4);
  hdr.writeUInt16LE(flags | 0x1, 6);
  return Buffer.concat([hdr, body]).toString('hex');
}

const ROUTES: RouteEntry[] = [
  { dst: cidr('100.64.1.0/26'), gateway: ip('198.51.100.11'), dev: 'vxlan0', onlink: true },
  { dst: cidr('100.64.1.64/26'), gateway: ip('198.51.100.13'), dev: 'vxlan0', onlink: true },
  { dst: cidr('100.64.9.1/32'), dev: 'eth0', onlink: false },
  { dst: cidr('2001:db8:100::/122'), gateway: ip('2001:db8::11'), dev: 'vxlan0', onlink: true },
  { dst: cidr('100.64.1.128/26'), gateway: ip('198.51.100.11'), dev: 'vxlan0', onlink: true },
  { dst: cidr('2001:db8:200::1/128'), dev: 'eth0', onlink: false },
  { dst: cidr('255.255.255.0/24'), gateway: ip('0.0.0.1'), dev: 'vxlan0', onlink: false },
];
const OIF: Record<string, number> = { vxlan0: 7, eth0: 9 };

test('route requests of mixed shapes (families, with and without gateway, onlink) are the bytes rtnetlink expects', async () => {
  const { session, sent } = recordingSession();
  const routes = new NetlinkRoutes(session, new LinkIndex(session));
  const upserts = ROUTES.map((entry, i) => (i === 1 ? { entry, existing: entry } : { entry }));
  assert.deepEqual((await routes.upsertMany(upserts)).filter(Boolean), []);
  assert.deepEqual(
    sent.map((b) => b.toString('hex')),
    ROUTES.map((r, i) =>
      expected(24, 0x400 | (i === 1 ? 0x100 : 0x200), r, r.gateway ? 0 : 253, 1, r.onlink ? 0x4 : 0, OIF[r.dev]),
    ),
  );
});

test('delete requests match on the protocol, with the device when it exists and without when it is gone', async () => {
  const { session, sent } = recordingSession();
  const routes = new NetlinkRoutes(session, new LinkIndex(session));
  const gone: RouteEntry = { dst: cidr('100.64.3.0/26'), gateway: ip('198.51.100.13'), dev: 'vxlan9', onlink: true };
  const batch = [...ROUTES.slice(0, 4), gone, ...ROUTES.slice(4)];
  assert.deepEqual((await routes.removeMany(batch)).filter(Boolean), []);
  assert.deepEqual(
    sent.map((b) => b.toString('hex')),
    batch.map((r) => expected(25, 0, r, 255, 0, 0, OIF[r.dev])),
  );
});
