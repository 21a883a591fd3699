import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseInitConfig, type InitFlags } from '../../src/config/init-config';
import { ErrorCodes, isGatewayError } from '../../src/errors';

const base = { EGRESS_POD_IP: '100.64.2.7' };

describe('parseInitConfig', () => {
  const good: Array<{ name: string; env: Record<string, string>; flags?: InitFlags; want: Record<string, unknown> }> = [
    {
      name: 'defaults',
      env: base,
      want: { egressIp: '100.64.2.7', vni: 4097, vxlanPort: 4790, dataplane: 'iptables', iptablesVariant: undefined, underlay: 'eth0', logLevel: 'info', dryRun: false },
    },
    { name: 'EGRESS_POD_IPS takes the first IPv4', env: { EGRESS_POD_IPS: '2001:db8::7, 100.64.2.9,100.64.2.10' }, want: { egressIp: '100.64.2.9', egressIpv6: '2001:db8::7' } },
    { name: 'dual-stack, IPv4 first', env: { EGRESS_POD_IPS: '100.64.2.7,2001:db8:64:2::7' }, want: { egressIp: '100.64.2.7', egressIpv6: '2001:db8:64:2::7' } },
    {
      name: 'IPv6-only: vxlan0 takes the IPv6 address',
      env: { EGRESS_POD_IPS: '2001:DB8:64:2:0::7' },
      want: { egressIp: '2001:db8:64:2::7', egressIpv6: '2001:db8:64:2::7' },
    },
    { name: 'IPv6-only from the flag', env: base, flags: { podIp: '2001:db8::7' }, want: { egressIp: '2001:db8::7', egressIpv6: '2001:db8::7' } },
    { name: 'EGRESS_POD_IPS wins over EGRESS_POD_IP', env: { EGRESS_POD_IPS: '100.64.2.8', EGRESS_POD_IP: '100.64.2.7' }, want: { egressIp: '100.64.2.8' } },
    { name: 'VNI and port bounds', env: { ...base, EGRESS_VXLAN_VNI: '16777215', EGRESS_VXLAN_PORT: '1' }, want: { vni: 16777215, vxlanPort: 1 } },
    { name: 'backend and dataplane, any case', env: { ...base, IPTABLES_BACKEND: 'Legacy', DATAPLANE: 'NFTables' }, want: { iptablesVariant: 'legacy', dataplane: 'nftables' } },
    { name: 'empty variables count as unset', env: { ...base, EGRESS_VXLAN_VNI: ' ', IPTABLES_BACKEND: '' }, want: { vni: 4097, iptablesVariant: undefined } },
    { name: 'EGRESS_INTERFACE names the underlay', env: { ...base, EGRESS_INTERFACE: ' net1 ' }, want: { underlay: 'net1' } },
    { name: 'the --interface flag wins over EGRESS_INTERFACE', env: { ...base, EGRESS_INTERFACE: 'net1' }, flags: { interface: 'ens5' }, want: { underlay: 'ens5' } },
    { name: 'LOG_SEVERITY warning maps to warn', env: { ...base, LOG_SEVERITY: 'Warning' }, want: { logLevel: 'warn' } },
    {
      name: 'flags override env',
      env: { ...base, EGRESS_VXLAN_VNI: '5', DATAPLANE: 'nftables' },
      flags: { podIp: '100.64.3.1', vni: '7', vxlanPort: '8472', iptablesBackend: 'nft', dataplane: 'iptables', interface: 'ens5.10', logSeverity: 'debug', dryRun: true },
      want: { egressIp: '100.64.3.1', vni: 7, vxlanPort: 8472, iptablesVariant: 'nft', dataplane: 'iptables', underlay: 'ens5.10', logLevel: 'debug', dryRun: true },
    },
  ];
  for (const c of good) {
    it(c.name, () => {
      const cfg = parseInitConfig(c.env, c.flags);
      const seen: Record<string, unknown> = {
        egressIp: cfg.egressIp.text,
        egressIpv6: cfg.egressIpv6?.text,
        vni: cfg.vni,
        vxlanPort: cfg.vxlanPort,
        dataplane: cfg.dataplane,
        iptablesVariant: cfg.iptablesVariant,
        underlay: cfg.underlay,
        logLevel: cfg.logLevel,
        dryRun: cfg.dryRun,
      };
      for (const [k, v] of Object.entries(c.want)) assert.equal(seen[k], v, k);
      assert.ok(Object.isFrozen(cfg));
    });
  }

  const bad: Array<{ name: string; env: Record<string, string>; flags?: InitFlags; message: string }> = [
    { name: 'no pod IP at all', env: {}, message: 'EGRESS_POD_IP=unset: is required' },
    { name: 'malformed pod IP', env: { EGRESS_POD_IP: '100.64.2.300' }, message: 'EGRESS_POD_IP="100.64.2.300": "100.64.2.300" is not an IP address' },
    { name: 'malformed entry in EGRESS_POD_IPS', env: { EGRESS_POD_IPS: '100.64.2.7,nope' }, message: 'EGRESS_POD_IPS="100.64.2.7,nope": "nope" is not an IP address' },
    { name: 'no address at all in EGRESS_POD_IPS', env: { EGRESS_POD_IPS: ' , ' }, message: 'EGRESS_POD_IPS=",": names no IP address' },
    { name: 'VNI 0', env: { ...base, EGRESS_VXLAN_VNI: '0' }, message: 'EGRESS_VXLAN_VNI="0": must be from 1 to 16777215' },
    { name: 'VNI too big', env: { ...base, EGRESS_VXLAN_VNI: '16777216' }, message: 'EGRESS_VXLAN_VNI="16777216": must be from 1 to 16777215' },
    { name: 'VNI not a number', env: { ...base, EGRESS_VXLAN_VNI: '4k' }, message: 'EGRESS_VXLAN_VNI="4k": must be a whole number' },
    { name: 'port 0', env: { ...base, EGRESS_VXLAN_PORT: '0' }, message: 'EGRESS_VXLAN_PORT="0": must be from 1 to 65535' },
    { name: 'port too big', env: { ...base, EGRESS_VXLAN_PORT: '65536' }, message: 'EGRESS_VXLAN_PORT="65536": must be from 1 to 65535' },
    { name: 'port flag', env: base, flags: { vxlanPort: '-1' }, message: '--vxlan-port="-1": must be a whole number' },
    { name: 'unknown backend', env: { ...base, IPTABLES_BACKEND: 'xtables' }, message: 'IPTABLES_BACKEND="xtables": must be one of legacy, nft' },
    { name: 'unknown backend with nftables dataplane', env: { ...base, DATAPLANE: 'nftables', IPTABLES_BACKEND: 'auto' }, message: 'IPTABLES_BACKEND="auto"' },
    { name: 'unknown dataplane', env: { ...base, DATAPLANE: 'bpf' }, message: 'DATAPLANE="bpf": must be one of iptables, nftables' },
    { name: 'bad interface', env: base, flags: { interface: 'eth0 -j ACCEPT' }, message: '--interface="eth0 -j ACCEPT": must be an interface name' },
    { name: 'interface too long', env: base, flags: { interface: 'a234567890123456' }, message: '--interface="a234567890123456"' },
    { name: 'bad EGRESS_INTERFACE', env: { ...base, EGRESS_INTERFACE: 'eth0;reboot' }, message: 'EGRESS_INTERFACE="eth0;reboot": must be an interface name' },
    { name: 'EGRESS_INTERFACE ..', env: { ...base, EGRESS_INTERFACE: '..' }, message: 'EGRESS_INTERFACE="..": must be an interface name' },
    { name: 'bad severity', env: { ...base, LOG_SEVERITY: 'loud' }, message: 'LOG_SEVERITY="loud": must be one of' },
    { name: 'severity named like an Object member', env: { ...base, LOG_SEVERITY: 'constructor' }, message: 'LOG_SEVERITY="constructor": must be one of' },
  ];
  for (const c of bad) {
    it(`rejects: ${c.name}`, () => {
      assert.throws(
        () => parseInitConfig(c.env, c.flags),
        (err: unknown) => {
          assert.ok(isGatewayError(err, ErrorCodes.CONFIG_INVALID), String(err));
          assert.ok(err.message.startsWith(c.message), `${err.message} should start with ${c.message}`);
          return true;
        },
      );
    });
  }
});
