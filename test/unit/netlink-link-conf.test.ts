import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeAttribute, parseAttributes } from '../../src/kernel/netlink/attributes';
import { decodeLink, linkPayload } from '../../src/kernel/netlink/codec';
import { AF_INET, AF_INET6, IFINFOMSG_LEN, IFLA_AF_SPEC, IFLA_IFNAME, IFLA_INET_CONF, IPV4_DEVCONF, NLA_F_NESTED } from '../../src/kernel/netlink/constants';

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

test('setting net.ipv4.conf.<dev>.rp_filter: IFLA_AF_SPEC → AF_INET → IFLA_INET_CONF → (devconf id, u32), on the link by index', () => {
  const payload = linkPayload({ index: 5, ipv4Conf: [[IPV4_DEVCONF.rp_filter, 2]] });
  assert.equal(payload.readInt32LE(4), 5, 'ifi_index');
  const top = parseAttributes(payload.subarray(IFINFOMSG_LEN));
  assert.deepEqual([...top.keys()], [IFLA_AF_SPEC]);
  const families = parseAttributes(top.get(IFLA_AF_SPEC) as Buffer);
  assert.deepEqual([...families.keys()], [AF_INET]);
  const inet = parseAttributes(families.get(AF_INET) as Buffer);
  assert.deepEqual([...inet.keys()], [IFLA_INET_CONF]);
  const conf = parseAttributes(inet.get(IFLA_INET_CONF) as Buffer);
  assert.deepEqual([...conf].map(([id, v]) => [id, v.readUInt32LE(0)]), [[8, 2]], 'rp_filter is devconf id 8 (linux/ip.h)');
  // The nesting attributes carry NLA_F_NESTED, as the kernel's strict validation of IFLA_AF_SPEC accepts.
  assert.equal(payload.readUInt16LE(IFINFOMSG_LEN + 2), IFLA_AF_SPEC | NLA_F_NESTED);
});

test('reading it back: the kernel reports IFLA_INET_CONF as one u32 array, id n at index n - 1; other families are ignored', () => {
  const values = Array.from({ length: 33 }, () => 0);
  values[IPV4_DEVCONF.rp_filter - 1] = 2;
  values[IPV4_DEVCONF.forwarding - 1] = 1;
  const inetConf = encodeAttribute(IFLA_INET_CONF, Buffer.concat(values.map(u32)));
  const afSpec = encodeAttribute(IFLA_AF_SPEC, Buffer.concat([encodeAttribute(AF_INET, inetConf), encodeAttribute(AF_INET6, encodeAttribute(1, u32(7)))]));
  const head = Buffer.alloc(IFINFOMSG_LEN);
  head.writeInt32LE(9, 4);
  const link = decodeLink(Buffer.concat([head, encodeAttribute(IFLA_IFNAME, Buffer.from('egress.calico\0')), afSpec]));
  assert.ok(link);
  assert.equal(link.name, 'egress.calico');
  const conf = link.ipv4Conf ?? [];
  assert.equal(conf.length, 33);
  assert.equal(conf[IPV4_DEVCONF.rp_filter - 1], 2);
  assert.equal(conf[IPV4_DEVCONF.forwarding - 1], 1);
  // A link without IPv4 settings (say, the kernel left them out): none, not zeros.
  const bare = decodeLink(Buffer.concat([head, encodeAttribute(IFLA_IFNAME, Buffer.from('x\0'))]));
  assert.equal(bare?.ipv4Conf, undefined);
});
