import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeNetconf } from '../../src/kernel/netlink/codec';
import { describeNetconf } from '../../src/kernel/netlink/netconf-watch';

/** RTM_NEWNETCONF payloads written by hand from linux/netconf.h: netconfmsg (family, 3 pad bytes), then attributes. */
function netconf(family: number, attrs: [type: number, value: number][]): Buffer {
  const out = Buffer.alloc(4 + attrs.length * 8);
  out.writeUInt8(family, 0);
  attrs.forEach(([type, value], i) => {
    const off = 4 + i * 8;
    out.writeUInt16LE(8, off);
    out.writeUInt16LE(type, off + 2);
    out.writeInt32LE(value, off + 4);
  });
  return out;
}

describe('netconf notices', () => {
  it('"inet all forwarding off" (ip_forward=0): the namespace-wide setting', () => {
    const m = decodeNetconf(netconf(2, [[1, -1], [2, 0]]));
    assert.deepEqual(m, { family: 2, device: 'all', forwarding: 0 });
    assert.equal(describeNetconf(m), 'net.ipv4.conf.all: forwarding=0');
  });

  it('a device\'s rp_filter, the default\'s, and IPv6 forwarding', () => {
    assert.equal(describeNetconf(decodeNetconf(netconf(2, [[1, 3], [3, 1]]))!), 'net.ipv4.conf.(ifindex 3): rp_filter=1');
    assert.equal(describeNetconf(decodeNetconf(netconf(2, [[1, -2], [3, 2]]))!), 'net.ipv4.conf.default: rp_filter=2');
    assert.equal(describeNetconf(decodeNetconf(netconf(10, [[1, -1], [2, 1]]))!), 'net.ipv6.conf.all: forwarding=1');
  });

  it('a new device reports every setting; a notice of neither setting is not a change of ours', () => {
    // NETCONFA_MC_FORWARDING (4) and NETCONFA_PROXY_NEIGH (5) alone.
    assert.equal(describeNetconf(decodeNetconf(netconf(2, [[1, 4], [4, 0], [5, 0]]))!), undefined);
    assert.equal(describeNetconf(decodeNetconf(netconf(2, [[1, 4], [2, 1], [3, 0], [4, 0]]))!), 'net.ipv4.conf.(ifindex 4): forwarding=1 rp_filter=0');
  });

  it('a cut attribute is dropped, not thrown (kernel replies are read leniently)', () => {
    const whole = netconf(2, [[1, -1], [2, 0]]);
    assert.deepEqual(decodeNetconf(whole.subarray(0, whole.length - 2)), { family: 2, device: 'all' });
  });
});
