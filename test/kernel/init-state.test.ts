import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitForOutput, withLab, type Lab } from '../lab/lab';

/** Rules someone else put in the gateway pod's namespace; init must leave them as they are. */
async function addForeignRules(lab: Lab, backend: 'legacy' | 'nft' | 'nftables'): Promise<void> {
  const gw = lab.names.gwpod;
  if (backend === 'nftables') {
    await lab.exec(gw, ['nft', '-f', '-'], {
      input: 'table ip foreign {\n\tchain post {\n\t\ttype nat hook postrouting priority 100; policy accept;\n\t\tip saddr 203.0.113.0/24 masquerade\n\t}\n}\n',
    });
    return;
  }
  await lab.exec(gw, [`iptables-${backend}`, '-w', '-t', 'nat', '-A', 'POSTROUTING', '-s', '203.0.113.0/24', '-j', 'MASQUERADE']);
  await lab.exec(gw, [`iptables-${backend}`, '-w', '-t', 'mangle', '-A', 'FORWARD', '-d', '203.0.113.9/32', '-j', 'ACCEPT']);
}

function count(text: string, line: string): number {
  return text.split('\n').filter((l) => l.trim() === line).length;
}

describe('init: kernel state', () => {
  const variants: Array<{ name: string; env: Record<string, string>; backend: 'legacy' | 'nft' | 'nftables' }> = [
    { name: 'iptables, legacy', env: { IPTABLES_BACKEND: 'legacy' }, backend: 'legacy' },
    { name: 'iptables, nft', env: { DATAPLANE: 'iptables', IPTABLES_BACKEND: 'nft' }, backend: 'nft' },
    { name: 'nftables', env: { DATAPLANE: 'nftables' }, backend: 'nftables' },
  ];
  for (const v of variants) {
    it(`${v.name}: a second run leaves exactly the same state; foreign rules survive; MSS and vxlan0 are right`, (t) =>
      withLab(t, async (lab) => {
        const env = { EGRESS_POD_IP: lab.addrs.gwpod, ...v.env };
        await addForeignRules(lab, v.backend);
        const first = await lab.gateway(['init'], env);
        assert.equal(first.code, 0, first.stderr);
        const afterFirst = await lab.kernelState(lab.names.gwpod);
        const second = await lab.gateway(['init'], env);
        assert.equal(second.code, 0, second.stderr);
        const afterSecond = await lab.kernelState(lab.names.gwpod);
        assert.equal(afterSecond, afterFirst);

        assert.match(afterFirst, /vxlan0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 /);
        assert.match(afterFirst, /link\/ether a2:2a:64:40:02:07 /);
        assert.match(afterFirst, /vxlan id 4097 local 100\.64\.2\.7 dev eth0 .*dstport 4790 nolearning/);
        assert.match(afterFirst, /^net\.ipv4\.ip_forward = 1$/m);
        assert.match(afterFirst, /^net\.ipv4\.conf\.all\.rp_filter = 0$/m);
        assert.match(afterFirst, /^net\.ipv4\.conf\.vxlan0\.rp_filter = 0$/m);

        if (v.backend === 'nftables') {
          const nft = (await lab.exec(lab.names.gwpod, ['nft', 'list', 'table', 'inet', 'egress_gateway'])).stdout;
          assert.match(nft, /oifname "eth0" ip saddr != 100\.64\.2\.7 snat ip to 100\.64\.2\.7 fully-random/);
          assert.match(nft, /tcp option maxseg size > 1410 tcp option maxseg size set 1410/);
          assert.match(afterSecond, /table ip foreign \{[^}]*ip saddr 203\.0\.113\.0\/24 masquerade/);
          assert.doesNotMatch(afterSecond, /EGW-/, 'no iptables chains with DATAPLANE=nftables');
        } else {
          const save = (await lab.exec(lab.names.gwpod, [`iptables-${v.backend}-save`])).stdout;
          assert.equal(count(save, '-A POSTROUTING -j EGW-POSTROUTING'), 1, save);
          assert.equal(count(save, '-A FORWARD -j EGW-FORWARD'), 1, save);
          assert.equal(count(save, '-A POSTROUTING -s 203.0.113.0/24 -j MASQUERADE'), 1, 'foreign nat rule survives');
          assert.equal(count(save, '-A FORWARD -d 203.0.113.9/32 -j ACCEPT'), 1, 'foreign mangle rule survives');
          assert.match(save, /^-A EGW-POSTROUTING ! -s 100\.64\.2\.7\/32 -o eth0 -j SNAT --to-source 100\.64\.2\.7 --random-fully$/m);
          assert.match(save, /^-A EGW-FORWARD -o eth0 -p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss 1411:65535 -j TCPMSS --set-mss 1410$/m);
          const other = v.backend === 'legacy' ? 'nft' : 'legacy';
          const otherSave = (await lab.exec(lab.names.gwpod, [`iptables-${other}-save`])).stdout;
          assert.doesNotMatch(otherSave, /EGW-/, `nothing written through iptables-${other}`);
        }
      }));
  }

  it('IPTABLES_BACKEND unset: nft in a fresh namespace, legacy where legacy already holds rules', (t) =>
    withLab(t, async (lab) => {
      const fresh = await lab.gateway(['init'], { EGRESS_POD_IP: lab.addrs.gwpod });
      assert.equal(fresh.code, 0, fresh.stderr);
      assert.match((await lab.exec(lab.names.gwpod, ['iptables-nft-save', '-t', 'nat'])).stdout, /-A POSTROUTING -j EGW-POSTROUTING/);
      assert.match(fresh.stdout, /"event":"iptables_backend_detected","variant":"nft"/);

      // The client pod's namespace serves as a second, untouched one: give it legacy rules only.
      await lab.exec(lab.names.cpod, ['iptables-legacy', '-w', '-t', 'filter', '-A', 'OUTPUT', '-d', '203.0.113.9/32', '-j', 'DROP']);
      const legacy = await lab.exec(lab.names.cpod, [...lab.gatewayCommand, 'init'], { env: { EGRESS_POD_IP: lab.addrs.cpod }, allowFail: true });
      assert.equal(legacy.code, 0, legacy.stderr);
      assert.match(legacy.stdout, /"variant":"legacy"/);
      assert.match((await lab.exec(lab.names.cpod, ['iptables-legacy-save', '-t', 'nat'])).stdout, /-A POSTROUTING -j EGW-POSTROUTING/);
      assert.doesNotMatch((await lab.exec(lab.names.cpod, ['iptables-nft-save'])).stdout, /EGW-/);
    }));

  it('--dry-run prints the vxlan spec, sysctls and full ruleset, and changes nothing', (t) =>
    withLab(t, async (lab) => {
      const before = await lab.kernelState(lab.names.gwpod);
      const res = await lab.gateway(['init', '--dry-run'], { EGRESS_POD_IP: lab.addrs.gwpod, DATAPLANE: 'nftables' });
      assert.equal(res.code, 0, res.stderr);
      assert.equal(await lab.kernelState(lab.names.gwpod), before);
      assert.match(res.stdout, /^vxlan: vxlan0 id 4097 dstport 4790 dev eth0 local 100\.64\.2\.7 address a2:2a:64:40:02:07 /m);
      assert.match(res.stdout, /^vxlan mtu: 1450 \(eth0 mtu 1500 - 50\); tcp mss clamp: 1410$/m);
      assert.match(res.stdout, /^sysctl: net\/ipv4\/conf\/vxlan0\/rp_filter = 0$/m);
      assert.match(res.stdout, /^table inet egress_gateway \{\n\tchain postrouting \{/m);
    }));
});

describe('init: bad input exits 2 naming the variable and value, and changes nothing', () => {
  it('every bad variable and flag', (t) =>
    withLab(t, async (lab) => {
      const gw = lab.addrs.gwpod;
      const cases: Array<{ args?: string[]; env: Record<string, string>; says: string }> = [
        { env: {}, says: 'EGRESS_POD_IP=unset' },
        { env: { EGRESS_POD_IP: '100.64.2' }, says: 'EGRESS_POD_IP="100.64.2"' },
        { env: { EGRESS_POD_IPS: '2001:db8::7,nope' }, says: 'EGRESS_POD_IPS="2001:db8::7,nope"' },
        { env: { EGRESS_POD_IP: gw, EGRESS_VXLAN_VNI: '0' }, says: 'EGRESS_VXLAN_VNI="0"' },
        { env: { EGRESS_POD_IP: gw, EGRESS_VXLAN_VNI: '16777216' }, says: 'EGRESS_VXLAN_VNI="16777216"' },
        { env: { EGRESS_POD_IP: gw, EGRESS_VXLAN_PORT: '0' }, says: 'EGRESS_VXLAN_PORT="0"' },
        { env: { EGRESS_POD_IP: gw, EGRESS_VXLAN_PORT: '65536' }, says: 'EGRESS_VXLAN_PORT="65536"' },
        { env: { EGRESS_POD_IP: gw, IPTABLES_BACKEND: 'xtables' }, says: 'IPTABLES_BACKEND="xtables"' },
        { env: { EGRESS_POD_IP: gw, DATAPLANE: 'ebpf' }, says: 'DATAPLANE="ebpf"' },
        { args: ['--vni', '-3'], env: { EGRESS_POD_IP: gw }, says: '--vni="-3"' },
        { args: ['--pod-ip', 'gateway'], env: { EGRESS_POD_IP: gw }, says: '--pod-ip="gateway"' },
      ];
      const before = await lab.kernelState(lab.names.gwpod);
      for (const c of cases) {
        const res = await lab.gateway(['init', ...(c.args ?? [])], c.env);
        assert.equal(res.code, 2, `${c.says}: exit ${res.code}: ${res.stderr}`);
        assert.ok(res.stderr.includes(`CONFIG_INVALID: ${c.says}`), `stderr names ${c.says}: ${res.stderr}`);
      }
      assert.equal(await lab.kernelState(lab.names.gwpod), before, 'nothing changed in the namespace');
    }));

  it('kernel-side failures: a missing backend changes nothing; a missing parent interface is refused before any change', (t) =>
    withLab(t, async (lab) => {
      const before = await lab.kernelState(lab.names.gwpod);
      const noTools = await lab.gateway(['init'], { EGRESS_POD_IP: lab.addrs.gwpod, IPTABLES_BACKEND: 'legacy', PATH: '/nonexistent' });
      assert.equal(noTools.code, 1, noTools.stderr);
      assert.match(noTools.stderr, /BACKEND_UNAVAILABLE: .*iptables-legacy-restore cannot be started \(backend iptables-legacy\)/);
      assert.equal(await lab.kernelState(lab.names.gwpod), before, 'the check runs before any change');

      // Checked against the namespace first (issue 12): the interface, and the egress address on it.
      const noParent = await lab.gateway(['init', '--interface', 'eth9'], { EGRESS_POD_IP: lab.addrs.gwpod, DATAPLANE: 'nftables' });
      assert.equal(noParent.code, 2, noParent.stderr);
      assert.match(noParent.stderr, /^egress-gateway: CONFIG_INVALID: --interface="eth9": no interface of that name has an address in this network namespace \(interfaces with addresses: eth0, lo\)\n$/);
      assert.equal(await lab.kernelState(lab.names.gwpod), before);
    }));
});

describe('lab: negative controls', () => {
  it('without init, or without the return path, the client cannot reach the outside', (t) =>
    withLab(t, async (lab) => {
      const server = lab.spawn(lab.names.ext, lab.tcpTool('serve', '7777'));
      await waitForOutput(server, /listening 7777/);
      const connect = (): Promise<{ code: number }> =>
        lab.exec(lab.names.cpod, lab.tcpTool('connect', lab.addrs.ext, '7777', 'x', '1500'), { allowFail: true });
      assert.notEqual((await connect()).code, 0, 'no gateway set up yet');
      const init = await lab.gateway(['init'], { EGRESS_POD_IP: lab.addrs.gwpod, DATAPLANE: 'nftables' });
      assert.equal(init.code, 0, init.stderr);
      assert.notEqual((await connect()).code, 0, 'replies have no way back without the return path');
      await lab.setReturnPathByHand();
      assert.equal((await connect()).code, 0, 'with the return path it works');
    }));
});
