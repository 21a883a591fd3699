import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseInitConfig } from '../../src/config/init-config';
import { ErrorCodes, isGatewayError } from '../../src/errors';
import { FakeLinks } from '../../src/fakes/links';
import { FakeIptables, FakeNftables } from '../../src/fakes/netfilter';
import { FakeSysctl } from '../../src/fakes/sysctl';
import type { NetfilterBackend } from '../../src/kernel/ports';
import { silentLogger } from '../../src/observability/logger';
import { applyInit } from '../../src/init/apply';
import { runInitCommand, type InitDeps } from '../../src/init/command';
import { planInit, rulesetFor, rulesetsFor } from '../../src/init/plan';

const config = parseInitConfig({ EGRESS_POD_IP: '100.64.2.7' });

const IPTABLES_GOLDEN = `*nat
:EGW-POSTROUTING - [0:0]
-A EGW-POSTROUTING ! -s 100.64.2.7/32 -o eth0 -j SNAT --to-source 100.64.2.7 --random-fully
-I POSTROUTING -j EGW-POSTROUTING
COMMIT
*mangle
:EGW-FORWARD - [0:0]
-A EGW-FORWARD -o eth0 -p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss 1411:65535 -j TCPMSS --set-mss 1410
-I FORWARD -j EGW-FORWARD
COMMIT
`;

/** The fail-safe of an IPv4-only pod: the same nft table whatever the dataplane. */
const FAILSAFE_GOLDEN = `table inet egress_gateway_failsafe
delete table inet egress_gateway_failsafe
table inet egress_gateway_failsafe {
\tchain postrouting {
\t\ttype filter hook postrouting priority srcnat + 10; policy accept;
\t\tiifname "vxlan0" oifname "eth0" ip saddr != 100.64.2.7 jump without_snat
\t\tiifname "vxlan0" oifname "eth0" meta nfproto ipv6 jump without_snat
\t}
\tchain without_snat {
\t\tct state invalid counter drop comment "invalid: conntrack could not place it, so NAT cannot translate it"
\t\tct status confirmed counter drop comment "stale: its connection was tracked without SNAT, before a repair"
\t\tcounter drop comment "escaped: a new connection the SNAT did not translate"
\t}
}
`;

/** How FakeNftables lists that table once applied. */
const FAILSAFE_DUMP = `table inet egress_gateway_failsafe {
\tchain postrouting {
\t\ttype filter hook postrouting priority srcnat + 10; policy accept;
\t\tiifname "vxlan0" oifname "eth0" ip saddr != 100.64.2.7 jump without_snat
\t\tiifname "vxlan0" oifname "eth0" meta nfproto ipv6 jump without_snat
\t}
\tchain without_snat {
\t\tct state invalid counter drop comment "invalid: conntrack could not place it, so NAT cannot translate it"
\t\tct status confirmed counter drop comment "stale: its connection was tracked without SNAT, before a repair"
\t\tcounter drop comment "escaped: a new connection the SNAT did not translate"
\t}
}
`;

const NFT_GOLDEN = `table inet egress_gateway
delete table inet egress_gateway
table inet egress_gateway {
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "eth0" ip saddr != 100.64.2.7 snat ip to 100.64.2.7 fully-random
\t}
\tchain forward {
\t\ttype filter hook forward priority mangle; policy accept;
\t\toifname "eth0" meta nfproto ipv4 tcp flags syn / syn,rst tcp option maxseg size > 1410 tcp option maxseg size set 1410
\t}
}
`;

/**
 * A fresh pod namespace: eth0 (a veth, MTU 1500) and nothing else of ours. With an iptables backend,
 * `failsafe` is the nft side that holds the fail-safe table; with nftables, `netfilter` holds both.
 */
function freshKernel(backend: NetfilterBackend): { links: FakeLinks; sysctl: FakeSysctl; netfilter: FakeIptables | FakeNftables; failsafe?: FakeNftables } {
  const links = new FakeLinks();
  links.addLink({ name: 'lo', kind: '', up: true, mtu: 65536, mac: '00:00:00:00:00:00' });
  links.addLink({ name: 'eth0', kind: 'veth', up: true, mtu: 1500, mac: '0e:00:00:00:00:01' });
  const sysctl = new FakeSysctl((dev) => links.has(dev));
  if (backend === 'nftables') return { links, sysctl, netfilter: new FakeNftables() };
  return { links, sysctl, netfilter: new FakeIptables(backend), failsafe: new FakeNftables() };
}

function dumpAll(k: ReturnType<typeof freshKernel>): string {
  return `## links\n${k.links.dump()}## sysctl\n${k.sysctl.dump()}## netfilter\n${k.netfilter.dump()}${k.failsafe ? `## nft\n${k.failsafe.dump()}` : ''}`;
}

describe('init plan', () => {
  it('plans vxlan0 from the egress IP and the sysctls in order', () => {
    const plan = planInit(config, 'iptables-nft');
    assert.deepEqual(plan.vxlan, { name: 'vxlan0', vni: 4097, port: 4790, parent: 'eth0', mac: 'a2:2a:64:40:02:07', local: '100.64.2.7' });
    assert.deepEqual(
      plan.sysctls.map((s) => `${s.key}=${s.value}`),
      ['net/ipv4/ip_forward=1', 'net/ipv4/conf/all/rp_filter=0', 'net/ipv4/conf/vxlan0/rp_filter=0', 'net/ipv4/conf/vxlan0/forwarding=1'],
    );
  });

  it('renders the fail-safe, then the iptables ruleset (golden), same text for both iptables variants', () => {
    assert.equal(rulesetFor(planInit(config, 'iptables-nft'), 1450), FAILSAFE_GOLDEN + IPTABLES_GOLDEN);
    assert.equal(rulesetFor(planInit(config, 'iptables-legacy'), 1450), FAILSAFE_GOLDEN + IPTABLES_GOLDEN);
    assert.deepEqual(
      rulesetsFor(planInit(config, 'iptables-nft'), 1450).map((p) => `${p.part} ${p.family}`),
      ['failsafe inet', 'rules ipv4'],
    );
  });

  it('renders the fail-safe, then the nftables ruleset (golden)', () => {
    assert.equal(rulesetFor(planInit(config, 'nftables'), 1450), FAILSAFE_GOLDEN + NFT_GOLDEN);
  });

  it('clamps the MSS to the MTU minus 40 and follows the interface flag', () => {
    const cfg = parseInitConfig({ EGRESS_POD_IP: '198.51.100.20' }, { interface: 'ens5' });
    const text = rulesetFor(planInit(cfg, 'iptables-legacy'), 8950);
    assert.match(text, /-A EGW-FORWARD -o ens5 .* --mss 8911:65535 -j TCPMSS --set-mss 8910\n/);
    assert.match(text, /-A EGW-POSTROUTING ! -s 198.51.100.20\/32 -o ens5 -j SNAT --to-source 198.51.100.20 --random-fully\n/);
    assert.throws(() => rulesetFor(planInit(cfg, 'nftables'), 40), RangeError);
  });
});

describe('applyInit against the fakes', () => {
  const cases: Array<{ backend: NetfilterBackend; netfilter: string }> = [
    {
      backend: 'iptables-nft',
      netfilter: `*mangle
:PREROUTING ACCEPT
:INPUT ACCEPT
:FORWARD ACCEPT
:OUTPUT ACCEPT
:POSTROUTING ACCEPT
:EGW-FORWARD -
-A FORWARD -j EGW-FORWARD
-A EGW-FORWARD -o eth0 -p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss 1411:65535 -j TCPMSS --set-mss 1410
COMMIT
*nat
:PREROUTING ACCEPT
:INPUT ACCEPT
:OUTPUT ACCEPT
:POSTROUTING ACCEPT
:EGW-POSTROUTING -
-A POSTROUTING -j EGW-POSTROUTING
-A POSTROUTING -s 203.0.113.0/24 -j MASQUERADE
-A EGW-POSTROUTING ! -s 100.64.2.7/32 -o eth0 -j SNAT --to-source 100.64.2.7 --random-fully
COMMIT
## nft
${FAILSAFE_DUMP}`,
    },
    {
      backend: 'nftables',
      netfilter: `table inet egress_gateway {
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "eth0" ip saddr != 100.64.2.7 snat ip to 100.64.2.7 fully-random
\t}
\tchain forward {
\t\ttype filter hook forward priority mangle; policy accept;
\t\toifname "eth0" meta nfproto ipv4 tcp flags syn / syn,rst tcp option maxseg size > 1410 tcp option maxseg size set 1410
\t}
}
${FAILSAFE_DUMP}table ip foreign {
\tchain post {
\t\ttype nat hook postrouting priority 100;
\t\tip saddr 203.0.113.0/24 masquerade
\t}
}
`,
    },
  ];
  for (const c of cases) {
    it(`${c.backend}: builds the namespace, keeps foreign rules, and a second run changes nothing`, async () => {
      const k = freshKernel(c.backend);
      if (k.netfilter instanceof FakeIptables) k.netfilter.seedRule('nat', 'POSTROUTING', '-s 203.0.113.0/24 -j MASQUERADE');
      else k.netfilter.seedTable('ip foreign', ['chain post {', 'type nat hook postrouting priority 100;', 'ip saddr 203.0.113.0/24 masquerade', '}']);
      const plan = planInit(config, c.backend);
      const first = await applyInit(plan, k, silentLogger());
      assert.equal(first.link.mtu, 1450);
      // A fresh namespace already has rp_filter 0 everywhere (vxlan0 inherits "default").
      assert.deepEqual(first.changedSysctls, ['net/ipv4/ip_forward']);
      const want = `## links
1: lo device up mtu 65536 address 00:00:00:00:00:00
2: eth0 veth up mtu 1500 address 0e:00:00:00:00:01
3: vxlan0 vxlan up mtu 1450 address a2:2a:64:40:02:07 vxlan id 4097 dstport 4790 dev eth0 local 100.64.2.7
## sysctl
net/ipv4/conf/all/forwarding = 1
net/ipv4/conf/all/rp_filter = 0
net/ipv4/conf/default/forwarding = 1
net/ipv4/conf/default/rp_filter = 0
net/ipv4/ip_forward = 1
net/ipv6/conf/all/forwarding = 0
net/ipv6/conf/default/forwarding = 0
## netfilter
${c.netfilter}`;
      assert.equal(dumpAll(k), want);
      assert.deepEqual(k.links.log, ['create vxlan0', 'set vxlan0 up']);

      const second = await applyInit(plan, k, silentLogger());
      assert.equal(dumpAll(k), want, 'second run leaves the same state');
      assert.deepEqual(k.links.log, ['create vxlan0', 'set vxlan0 up'], 'no link change on the second run');
      assert.deepEqual(second.changedSysctls, []);
      assert.equal(k.netfilter.applies, c.backend === 'nftables' ? 4 : 2, 'the owned ruleset (and, with nftables, the fail-safe) is rewritten whole each run');
      if (k.failsafe) assert.equal(k.failsafe.applies, 2, 'the fail-safe table is rewritten whole each run');
    });
  }

  it('replaces a vxlan0 with other parameters and repairs a wrong MAC and a down device', async () => {
    const k = freshKernel('iptables-legacy');
    k.links.addLink({ name: 'vxlan0', kind: 'vxlan', up: false, mtu: 1450, mac: 'a2:2a:00:00:00:01', vxlan: { vni: 9, port: 4790, parentIndex: 2 } });
    await applyInit(planInit(config, 'iptables-legacy'), k, silentLogger());
    assert.deepEqual(k.links.log, ['delete vxlan0', 'create vxlan0', 'set vxlan0 up']);
    assert.match(k.links.dump(), /^4: vxlan0 vxlan up mtu 1450 address a2:2a:64:40:02:07 vxlan id 4097 /m);

    const same = freshKernel('iptables-legacy');
    same.links.addLink({ name: 'vxlan0', kind: 'vxlan', up: false, mtu: 1450, mac: 'a2:2a:00:00:00:01', vxlan: { vni: 4097, port: 4790, parentIndex: 2, local: '100.64.2.7' } });
    await applyInit(planInit(config, 'iptables-legacy'), same, silentLogger());
    assert.deepEqual(same.links.log, ['set vxlan0 address a2:2a:64:40:02:07 up']);
  });

  it('a failing step is named, with what was done and what was not attempted; nothing of the ruleset applies', async () => {
    const k = freshKernel('iptables-nft');
    (k.netfilter as FakeIptables).rejectNext("iptables-restore: line 3 failed: Couldn't load target `SNAT'");
    await assert.rejects(applyInit(planInit(config, 'iptables-nft'), k, silentLogger()), (err: unknown) => {
      assert.ok(isGatewayError(err, ErrorCodes.NETFILTER_APPLY_FAILED));
      assert.equal(
        err.message,
        "init step 3 of 3 (netfilter ruleset) failed: applying the ruleset with iptables-nft-restore --noflush: exit status 1, nothing applied: iptables-restore: line 3 failed: Couldn't load target `SNAT'; already applied: vxlan device, sysctls",
      );
      return true;
    });
    assert.equal(k.netfilter.dump(), '');
    assert.equal(k.failsafe?.dump(), FAILSAFE_DUMP, 'the fail-safe went in first and stays: a failed ruleset never leaves SNAT-less forwarding without the drop');

    const noParent = freshKernel('nftables');
    const cfg = parseInitConfig({ EGRESS_POD_IP: '100.64.2.7' }, { interface: 'ens9' });
    await assert.rejects(applyInit(planInit(cfg, 'nftables'), noParent, silentLogger()), (err: unknown) => {
      assert.ok(isGatewayError(err, ErrorCodes.KERNEL_OP_FAILED));
      assert.match(err.message, /^init step 1 of 3 \(vxlan device\) failed: ensuring vxlan device vxlan0 .*parent interface ens9 does not exist; not attempted: sysctls, netfilter ruleset$/);
      return true;
    });
    assert.equal(noParent.sysctl.log.length, 0);

    const noVxlan = freshKernel('nftables');
    noVxlan.links.failNext('create', 'EOPNOTSUPP');
    await assert.rejects(applyInit(planInit(config, 'nftables'), noVxlan, silentLogger()), (err: unknown) => {
      assert.ok(isGatewayError(err, ErrorCodes.BACKEND_UNAVAILABLE));
      assert.match(err.message, /creating it: rejected by the kernel: EOPNOTSUPP; not attempted: sysctls, netfilter ruleset$/);
      return true;
    });
  });

  it('the fakes reject a payload naming a missing chain, atomically', async () => {
    const fake = new FakeIptables('iptables-legacy');
    await assert.rejects(fake.apply('*nat\n:EGW-X - [0:0]\n-A EGW-X -j ACCEPT\n-A NOPE -j EGW-X\nCOMMIT\n'), /line 4 failed: chain NOPE does not exist/);
    assert.equal(fake.dump(), '');
    const nft = new FakeNftables();
    await assert.rejects(nft.apply('delete table inet egress_gateway\n'), /No such file or directory/);
  });
});

describe('runInitCommand with fake dependencies', () => {
  function deps(backend: NetfilterBackend, detected: 'legacy' | 'nft' = 'nft') {
    const k = freshKernel(backend);
    const printed: string[] = [];
    const checked: string[] = [];
    const d: InitDeps = {
      links: k.links,
      sysctl: k.sysctl,
      netfilterFor: (b) => {
        if (b === 'nftables' && backend !== 'nftables' && k.failsafe) return Object.assign(k.failsafe, { checkAvailable: async () => void checked.push('nft for the fail-safe') });
        assert.equal(b, backend);
        return Object.assign(k.netfilter, { checkAvailable: async () => void checked.push(b) });
      },
      detectIptablesVariant: async () => ({ variant: detected, why: 'test' }),
      out: (t) => void printed.push(t),
      logger: () => silentLogger(),
    };
    return { k, d, printed, checked };
  }

  it('--dry-run prints vxlan spec, sysctls and the whole ruleset, and changes nothing', async () => {
    const { k, d, printed, checked } = deps('iptables-legacy', 'legacy');
    const before = dumpAll(k);
    await runInitCommand({ dryRun: true }, { EGRESS_POD_IP: '100.64.2.7' }, d);
    assert.equal(dumpAll(k), before);
    assert.deepEqual(checked, []);
    assert.equal(
      printed.join(''),
      `# egress-gateway init --dry-run: nothing was changed
vxlan: vxlan0 id 4097 dstport 4790 dev eth0 local 100.64.2.7 address a2:2a:64:40:02:07 nolearning up
vxlan mtu: 1450 (eth0 mtu 1500 - 50); tcp mss clamp: 1410
sysctl: net/ipv4/ip_forward = 1
sysctl: net/ipv4/conf/all/rp_filter = 0
sysctl: net/ipv4/conf/vxlan0/rp_filter = 0
sysctl: net/ipv4/conf/vxlan0/forwarding = 1
netfilter: iptables-legacy (nft -f -; iptables-legacy-restore --noflush)
# fail-safe (nft):
${FAILSAFE_GOLDEN}# ruleset:
${IPTABLES_GOLDEN}`,
    );
  });

  it('IPTABLES_BACKEND wins over detection; DATAPLANE=nftables ignores both', async () => {
    const a = deps('iptables-nft', 'legacy');
    await runInitCommand({}, { EGRESS_POD_IP: '100.64.2.7', IPTABLES_BACKEND: 'nft' }, a.d);
    assert.deepEqual(a.checked, ['iptables-nft', 'nft for the fail-safe']);
    const b = deps('nftables', 'legacy');
    await runInitCommand({}, { EGRESS_POD_IP: '100.64.2.7', DATAPLANE: 'nftables', IPTABLES_BACKEND: 'legacy' }, b.d);
    assert.deepEqual(b.checked, ['nftables']);
    assert.match(b.k.netfilter.dump(), /^table inet egress_gateway \{/);
  });

  it('a config error is thrown before anything is read or changed', async () => {
    const { k, d, checked } = deps('iptables-nft');
    const before = dumpAll(k);
    await assert.rejects(runInitCommand({}, { EGRESS_POD_IP: '100.64.2.7', EGRESS_VXLAN_PORT: '70000' }, d), (err: unknown) =>
      isGatewayError(err, ErrorCodes.CONFIG_INVALID),
    );
    assert.equal(dumpAll(k), before);
    assert.deepEqual(checked, []);
  });
});

describe('init plan: dual-stack and IPv6-only', () => {
  const dual = parseInitConfig({ EGRESS_POD_IPS: '2001:db8:64:2::7,100.64.2.7' });
  const v6only = parseInitConfig({ EGRESS_POD_IPS: '2001:db8:64:2::7' });

  const IP6TABLES_GOLDEN = (mss: number): string => `*nat
:EGW-POSTROUTING - [0:0]
-A EGW-POSTROUTING -s fe80::/10 -j RETURN
-A EGW-POSTROUTING ! -s 2001:db8:64:2::7/128 -o eth0 -j SNAT --to-source 2001:db8:64:2::7 --random-fully
-I POSTROUTING -j EGW-POSTROUTING
COMMIT
*mangle
:EGW-FORWARD - [0:0]
-A EGW-FORWARD -o eth0 -p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss ${mss + 1}:65535 -j TCPMSS --set-mss ${mss}
-I FORWARD -j EGW-FORWARD
COMMIT
`;

  const FAILSAFE_DUAL_GOLDEN = FAILSAFE_GOLDEN.replace('meta nfproto ipv6 jump without_snat', 'ip6 saddr != 2001:db8:64:2::7 jump without_snat');

  const NFT_DUAL_GOLDEN = `table inet egress_gateway
delete table inet egress_gateway
table inet egress_gateway {
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "eth0" ip saddr != 100.64.2.7 snat ip to 100.64.2.7 fully-random
\t\toifname "eth0" ip6 saddr != { 2001:db8:64:2::7, fe80::/10 } snat ip6 to 2001:db8:64:2::7 fully-random
\t}
\tchain forward {
\t\ttype filter hook forward priority mangle; policy accept;
\t\toifname "eth0" meta nfproto ipv4 tcp flags syn / syn,rst tcp option maxseg size > 1410 tcp option maxseg size set 1410
\t\toifname "eth0" meta nfproto ipv6 tcp flags syn / syn,rst tcp option maxseg size > 1390 tcp option maxseg size set 1390
\t}
}
`;

  it('dual-stack (either order): vxlan0 stays on IPv4, both forwarding sysctls, IPv4 then IPv6 ruleset', () => {
    const plan = planInit(dual, 'iptables-legacy');
    assert.deepEqual(plan.vxlan, { name: 'vxlan0', vni: 4097, port: 4790, parent: 'eth0', mac: 'a2:2a:64:40:02:07', local: '100.64.2.7' });
    assert.deepEqual(
      plan.sysctls.map((s) => `${s.key}=${s.value}`),
      ['net/ipv4/ip_forward=1', 'net/ipv4/conf/all/rp_filter=0', 'net/ipv4/conf/vxlan0/rp_filter=0', 'net/ipv4/conf/vxlan0/forwarding=1', 'net/ipv6/conf/all/forwarding=1'],
    );
    assert.deepEqual(
      rulesetsFor(plan, 1450).map((p) => [p.family, p.text]),
      [
        ['inet', FAILSAFE_DUAL_GOLDEN],
        ['ipv4', IPTABLES_GOLDEN],
        ['ipv6', IP6TABLES_GOLDEN(1390)],
      ],
    );
    assert.deepEqual(rulesetsFor(planInit(dual, 'nftables'), 1450), [
      { family: 'inet', part: 'failsafe', text: FAILSAFE_DUAL_GOLDEN },
      { family: 'inet', part: 'rules', text: NFT_DUAL_GOLDEN },
    ]);
  });

  it('IPv6-only: vxlan0 on the IPv6 address (MAC from its last 4 bytes), IPv6 sysctl and rules only, MSS = MTU - 60', () => {
    const plan = planInit(v6only, 'iptables-nft');
    assert.deepEqual(plan.vxlan, { name: 'vxlan0', vni: 4097, port: 4790, parent: 'eth0', mac: 'a2:2a:00:00:00:07', local: '2001:db8:64:2::7' });
    assert.deepEqual(plan.sysctls, [{ key: 'net/ipv6/conf/all/forwarding', value: '1' }]);
    assert.deepEqual(rulesetsFor(plan, 1430).map((p) => [p.part, p.family]), [
      ['failsafe', 'inet'],
      ['rules', 'ipv6'],
    ]);
    assert.equal(rulesetsFor(plan, 1430)[1]?.text, IP6TABLES_GOLDEN(1370));
    // Without an IPv4 address, no IPv4 traffic may be forwarded out at all.
    assert.match(rulesetsFor(plan, 1430)[0]?.text ?? '', /oifname "eth0" meta nfproto ipv4 jump without_snat\n.*oifname "eth0" ip6 saddr != 2001:db8:64:2::7 jump without_snat\n/);
    const nft = rulesetFor(planInit(v6only, 'nftables'), 1430);
    assert.doesNotMatch(nft.slice(nft.indexOf('table inet egress_gateway\n')), /\bip saddr|nfproto ipv4/, 'no IPv4 SNAT or clamp without an IPv4 address');
    assert.match(nft, /\t\toifname "eth0" meta nfproto ipv6 .* maxseg size set 1370\n/);
    assert.throws(() => rulesetFor(plan, 60), /leaves no room for TCP over IPv6/);
  });

  it('applies to the fakes: ip6tables tables of their own, idempotent; a failing IPv6 apply names ip6tables and keeps IPv4', async () => {
    const k = freshKernel('iptables-nft');
    (k.netfilter as FakeIptables).seedRule('nat', 'POSTROUTING', '-s 2001:db8:ff::/64 -j MASQUERADE', 'ipv6');
    const plan = planInit(dual, 'iptables-nft');
    const first = await applyInit(plan, k, silentLogger());
    assert.deepEqual(first.changedSysctls, ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding']);
    assert.deepEqual(first.rulesets.map((r) => r.family), ['inet', 'ipv4', 'ipv6']);
    const dumped = k.netfilter.dump();
    assert.equal(
      dumped.slice(dumped.indexOf('# ip6tables\n')),
      `# ip6tables
*mangle
:PREROUTING ACCEPT
:INPUT ACCEPT
:FORWARD ACCEPT
:OUTPUT ACCEPT
:POSTROUTING ACCEPT
:EGW-FORWARD -
-A FORWARD -j EGW-FORWARD
-A EGW-FORWARD -o eth0 -p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss 1391:65535 -j TCPMSS --set-mss 1390
COMMIT
*nat
:PREROUTING ACCEPT
:INPUT ACCEPT
:OUTPUT ACCEPT
:POSTROUTING ACCEPT
:EGW-POSTROUTING -
-A POSTROUTING -j EGW-POSTROUTING
-A POSTROUTING -s 2001:db8:ff::/64 -j MASQUERADE
-A EGW-POSTROUTING -s fe80::/10 -j RETURN
-A EGW-POSTROUTING ! -s 2001:db8:64:2::7/128 -o eth0 -j SNAT --to-source 2001:db8:64:2::7 --random-fully
COMMIT
`,
    );
    const v4 = dumped.slice(0, dumped.indexOf('# ip6tables\n'));
    assert.match(v4, /^-A EGW-POSTROUTING ! -s 100\.64\.2\.7\/32 -o eth0 -j SNAT/m, 'the IPv4 tables hold the IPv4 rules');
    assert.match(v4, /--set-mss 1410\n/);
    assert.doesNotMatch(v4, /2001:db8/, 'and nothing of IPv6');
    const state = dumpAll(k);
    await applyInit(plan, k, silentLogger());
    assert.equal(dumpAll(k), state, 'second run leaves the same state');

    const broken = freshKernel('iptables-legacy');
    const applied: string[] = [];
    const netfilter = broken.netfilter as FakeIptables;
    const apply = netfilter.apply.bind(netfilter);
    // Fail only the IPv6 transaction, as a missing ip6table_nat module would.
    netfilter.apply = async (payload, family) => {
      applied.push(family ?? 'ipv4');
      if (family === 'ipv6') netfilter.rejectNext("ip6tables-restore: line 3 failed: Couldn't load target `SNAT'");
      return apply(payload, family);
    };
    await assert.rejects(applyInit(planInit(dual, 'iptables-legacy'), { ...broken, netfilter }, silentLogger()), (err: unknown) => {
      assert.ok(isGatewayError(err, ErrorCodes.NETFILTER_APPLY_FAILED));
      assert.match(err.message, /^init step 3 of 3 \(netfilter ruleset\) failed: applying the ruleset with ip6tables-legacy-restore --noflush: exit status 1/);
      return true;
    });
    assert.deepEqual(applied, ['ipv4', 'ipv6']);
    assert.doesNotMatch(netfilter.dump(), /# ip6tables/, 'nothing of the IPv6 ruleset applied');
    assert.match(netfilter.dump(), /SNAT --to-source 100\.64\.2\.7/, 'the IPv4 ruleset stays applied');
  });

  it('IPv6-only against the fakes: vxlan0 MTU is eth0 - 70, only the IPv6 forwarding sysctl changes', async () => {
    const k = freshKernel('nftables');
    const out = await applyInit(planInit(v6only, 'nftables'), k, silentLogger());
    assert.equal(out.link.mtu, 1430);
    assert.deepEqual(out.changedSysctls, ['net/ipv6/conf/all/forwarding']);
    assert.match(k.links.dump(), /^3: vxlan0 vxlan up mtu 1430 address a2:2a:00:00:00:07 vxlan id 4097 dstport 4790 dev eth0 local 2001:db8:64:2::7$/m);
    assert.match(k.netfilter.dump(), /maxseg size set 1370/);
  });

  it('--dry-run of a dual-stack pod labels both clamps and both rulesets', async () => {
    const k = freshKernel('iptables-nft');
    const printed: string[] = [];
    await runInitCommand({ dryRun: true }, { EGRESS_POD_IPS: '100.64.2.7,2001:db8:64:2::7', IPTABLES_BACKEND: 'nft' }, {
      links: k.links,
      sysctl: k.sysctl,
      netfilterFor: () => k.netfilter,
      detectIptablesVariant: async () => ({ variant: 'nft', why: 'test' }),
      out: (t) => void printed.push(t),
      logger: () => silentLogger(),
    });
    assert.equal(
      printed.join(''),
      `# egress-gateway init --dry-run: nothing was changed
vxlan: vxlan0 id 4097 dstport 4790 dev eth0 local 100.64.2.7 address a2:2a:64:40:02:07 nolearning up
vxlan mtu: 1450 (eth0 mtu 1500 - 50); tcp mss clamp: 1410 (IPv4), 1390 (IPv6)
sysctl: net/ipv4/ip_forward = 1
sysctl: net/ipv4/conf/all/rp_filter = 0
sysctl: net/ipv4/conf/vxlan0/rp_filter = 0
sysctl: net/ipv4/conf/vxlan0/forwarding = 1
sysctl: net/ipv6/conf/all/forwarding = 1
netfilter: iptables-nft (nft -f -; iptables-nft-restore --noflush; ip6tables-nft-restore --noflush)
# fail-safe (nft):
${FAILSAFE_DUAL_GOLDEN}# ruleset:
${IPTABLES_GOLDEN}# ruleset (IPv6):
${IP6TABLES_GOLDEN(1390)}`,
    );
    const v6 = freshKernel('nftables');
    const printed6: string[] = [];
    await runInitCommand({ dryRun: true }, { EGRESS_POD_IPS: '2001:db8:64:2::7', DATAPLANE: 'nftables' }, {
      links: v6.links,
      sysctl: v6.sysctl,
      netfilterFor: () => v6.netfilter,
      detectIptablesVariant: async () => ({ variant: 'nft', why: 'test' }),
      out: (t) => void printed6.push(t),
      logger: () => silentLogger(),
    });
    assert.match(printed6.join(''), /^vxlan mtu: 1430 \(eth0 mtu 1500 - 70\); tcp mss clamp: 1370 \(IPv6\)$/m);
  });
});
