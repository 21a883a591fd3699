import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CT_DELETE_TYPE, decodeConntrack, deleteRequestPayload, type ConntrackEvent } from '../../src/kernel/netlink/conntrack';
import { parseIp } from '../../src/model/ip';
import { attr, be16, be32, nest, tuple, u8, v4, v6 } from './audit-wire';

/**
 * The IPCTNL_MSG_CT_DELETE request the setup guard sends for a connection tracked without SNAT
 * (src/kernel/netlink/conntrack-table.ts), compared byte for byte with the audit tests' own encoder
 * of the uapi layout; the kernel test (setup-guard.test.ts, "the window that remains, repaired")
 * shows the kernel deleting by it.
 */

const ip = (s: string) => parseIp(s) ?? assert.fail(s);

describe('ctnetlink delete request', () => {
  it('TCP over IPv4: nfgenmsg, the original tuple, the zone and the id', () => {
    const e: Pick<ConntrackEvent, 'family' | 'orig' | 'id' | 'zone'> = {
      family: 2,
      id: 0xdeadbeef,
      zone: 3,
      orig: { src: ip('100.64.1.5'), dst: ip('198.51.100.13'), protocol: 6, srcPort: 40001, dstPort: 7777 },
    };
    const want = Buffer.concat([
      Buffer.from([2, 0, 0, 0]),
      tuple(1, { src: '100.64.1.5', dst: '198.51.100.13', proto: 6, sport: 40001, dport: 7777 }),
      attr(18, be16(3)),
      attr(12, be32(0xdeadbeef)),
    ]);
    assert.equal(deleteRequestPayload(e).toString('hex'), want.toString('hex'));
  });

  it('ICMPv6 echo: the id, type and code name the flow (no ports); no zone or id when the dump had none', () => {
    const e: Pick<ConntrackEvent, 'family' | 'orig' | 'id' | 'zone'> = {
      family: 10,
      orig: { src: ip('2001:db8::5'), dst: ip('2001:db8:1::d'), protocol: 58, icmp: { id: 0x1234, type: 128, code: 0 } },
    };
    const want = Buffer.concat([
      Buffer.from([10, 0, 0, 0]),
      nest(1, nest(1, attr(3, v6('2001:db8:0:0:0:0:0:5')), attr(4, v6('2001:db8:1:0:0:0:0:d'))), nest(2, attr(1, u8(58)), attr(7, be16(0x1234)), attr(8, u8(128)), attr(9, u8(0)))),
    ]);
    assert.equal(deleteRequestPayload(e).toString('hex'), want.toString('hex'));
  });

  it('an ICMP entry as a dump lists it decodes with its id, type and code, which the delete request carries back', () => {
    const icmpTuple = (type: 1 | 2, src: string, dst: string, icmpType: number): Buffer =>
      nest(type, nest(1, attr(1, v4(src)), attr(2, v4(dst))), nest(2, attr(1, u8(1)), attr(4, be16(77)), attr(5, u8(icmpType)), attr(6, u8(0))));
    const payload = Buffer.concat([Buffer.from([2, 0, 0, 0]), icmpTuple(1, '100.64.1.5', '198.51.100.13', 8), icmpTuple(2, '198.51.100.13', '100.64.1.5', 0), attr(12, be32(9))]);
    const e = decodeConntrack(CT_DELETE_TYPE, 0, payload);
    assert.deepEqual(e?.orig.icmp, { id: 77, type: 8, code: 0 });
    assert.ok(e);
    assert.equal(deleteRequestPayload(e).toString('hex'), Buffer.concat([Buffer.from([2, 0, 0, 0]), icmpTuple(1, '100.64.1.5', '198.51.100.13', 8), attr(12, be32(9))]).toString('hex'));
  });
});
