import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseInitConfig } from '../../src/config/init-config';
import { ErrorCodes, GatewayError } from '../../src/errors';
import { applyInit } from '../../src/init/apply';
import { planInit } from '../../src/init/plan';
import { OWNED } from '../../src/init/ruleset';
import { SetupGuard, describeListingChange } from '../../src/init/setup-guard';
import { FakeLinks } from '../../src/fakes/links';
import { FakeIptables, FakeNftables } from '../../src/fakes/netfilter';
import { FakeRulesetReader } from '../../src/fakes/ruleset-reader';
import { FakeSysctl } from '../../src/fakes/sysctl';
import { normalizeNftListing, nftCounterPackets, nftTableBlock, ownedIptablesLines } from '../../src/kernel/netfilter-state';
import type { NetfilterBackend } from '../../src/kernel/ports';
import { FakeClock } from '../../src/model/clock';
import { createLogger, silentLogger } from '../../src/observability/logger';
import { createMetrics } from '../../src/observability/metrics';

/**
 * The setup guard on the stateful fakes (src/kernel/fake/*): init applied as init applies it, then
 * its state broken the ways the kernel tests break it for real (test/kernel/setup-guard.test.ts),
 * and the guard's answers read from the fakes' dumps, its log and its metric.
 */

const config = parseInitConfig({ EGRESS_POD_IP: '100.64.2.7' });

interface LogLine {
  readonly event?: string;
  readonly item?: string;
  readonly detail?: string;
  readonly [k: string]: unknown;
}

async function rig(backend: NetfilterBackend, opts: { applyInit?: boolean; sysctl?: FakeSysctl } = {}) {
  const links = new FakeLinks();
  links.addLink({ name: 'eth0', kind: 'veth', up: true, mtu: 1500, mac: '0e:00:00:00:00:01' });
  const sysctl = opts.sysctl ?? new FakeSysctl((dev) => links.has(dev));
  const nft = new FakeNftables();
  const iptables = backend === 'nftables' ? undefined : new FakeIptables(backend);
  const netfilter = { netfilter: iptables ?? nft, ...(iptables ? { failsafe: nft } : {}) };
  const plan = planInit(config, backend);
  if (opts.applyInit !== false) await applyInit(plan, { links, sysctl, ...netfilter }, silentLogger());
  else await links.ensureVxlan(plan.vxlan);
  const reader = new FakeRulesetReader({ ...(iptables ? { iptables } : {}), nft }, [OWNED.natChain, OWNED.mangleChain]);
  const clock = new FakeClock(1000);
  const logs: LogLine[] = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const metrics = createMetrics({ processMetrics: false });
  const problems: (string | undefined)[] = [];
  const guard = new SetupGuard({
    plan,
    links,
    sysctl,
    netfilter,
    reader,
    clock,
    logger,
    metrics,
    fullIntervalMs: 30_000,
    pollRules: backend === 'iptables-legacy',
    onProblem: (p) => void problems.push(p?.message),
  });
  const state = (): string => `${iptables?.dump() ?? ''}## nft\n${nft.dump()}## sysctl\n${sysctl.dump()}`;
  const drifts = (): LogLine[] => logs.filter((l) => l.event === 'setup_drift');
  const advance = async (ms: number): Promise<void> => {
    clock.advance(ms);
    await guard.whenIdle();
  };
  const driftMetric = async (item: string): Promise<number> => {
    const m = (await metrics.setupDrift.get()).values.find((v) => v.labels.item === item);
    return m?.value ?? 0;
  };
  return { links, sysctl, nft, iptables, reader, clock, logs, guard, problems, state, drifts, advance, driftMetric };
}

describe('setup guard on the fakes', () => {
  for (const backend of ['iptables-nft', 'iptables-legacy', 'nftables'] as const) {
    it(`${backend}, after init: nothing to report and nothing written at start; readiness told "ok"`, async () => {
      const r = await rig(backend);
      const before = r.state();
      const applies = (r.iptables?.applies ?? 0) + r.nft.applies;
      await r.guard.start();
      assert.equal(r.state(), before);
      assert.equal((r.iptables?.applies ?? 0) + r.nft.applies, applies, 'an intact ruleset reads back as our own text: no rewrite');
      assert.deepEqual(r.drifts(), []);
      assert.deepEqual(r.problems, [undefined]);
      await r.guard.stop();
    });
  }

  it('changed while no daemon was watching: found at start-up, logged, put back', async () => {
    const r = await rig('iptables-nft');
    await r.iptables!.apply('*nat\n-D POSTROUTING -j EGW-POSTROUTING\nCOMMIT\n');
    await r.guard.start();
    assert.deepEqual(r.drifts().map((l) => l.item), ['ruleset:ipv4']);
    assert.match(String(r.drifts()[0]?.detail), /found changed at start-up: missing: -A POSTROUTING -j EGW-POSTROUTING/);
    assert.match(r.iptables!.dump(), /^-A POSTROUTING -j EGW-POSTROUTING$/m);
    await r.guard.stop();
  });

  it('iptables: SNAT chain flushed, jump deleted, clamp flushed, fail-safe gone: each logged once, counted, put back', async () => {
    const r = await rig('iptables-nft');
    await r.guard.start();
    const before = r.state();
    const breakages: [string, () => Promise<void>, RegExp][] = [
      ['flush', () => r.iptables!.apply('*nat\n:EGW-POSTROUTING - [0:0]\nCOMMIT\n'), /missing: -A EGW-POSTROUTING ! -s 100\.64\.2\.7\/32 -o eth0 -j SNAT/],
      ['jump', () => r.iptables!.apply('*nat\n-D POSTROUTING -j EGW-POSTROUTING\nCOMMIT\n'), /missing: -A POSTROUTING -j EGW-POSTROUTING/],
      ['clamp', () => r.iptables!.apply('*mangle\n:EGW-FORWARD - [0:0]\nCOMMIT\n'), /missing: -A EGW-FORWARD .*--set-mss 1410/],
      ['foreign rule in our chain', () => r.iptables!.apply('*nat\n-I EGW-POSTROUTING -j RETURN\nCOMMIT\n'), /unexpected: -A EGW-POSTROUTING -j RETURN/],
    ];
    for (const [name, breakIt, detail] of breakages) {
      const n = r.drifts().length;
      await breakIt();
      r.guard.requestCheck('nf_tables changed');
      await r.advance(20);
      assert.equal(r.drifts().length, n + 1, name);
      assert.equal(r.drifts().at(-1)?.item, 'ruleset:ipv4', name);
      assert.match(String(r.drifts().at(-1)?.detail), detail, name);
      assert.equal(r.state(), before, `${name}: put back`);
    }
    await r.nft.apply('delete table inet egress_gateway_failsafe\n');
    r.guard.requestCheck('nf_tables changed');
    await r.advance(20);
    assert.equal(r.drifts().at(-1)?.item, 'failsafe:inet');
    assert.equal(r.state(), before, 'the fail-safe is back');
    assert.equal(await r.driftMetric('ruleset:ipv4'), 4);
    assert.equal(await r.driftMetric('failsafe:inet'), 1);
    assert.deepEqual(r.problems, [undefined], 'readiness was never told of a problem: everything was put back');
    assert.equal(r.logs.filter((l) => l.event === 'setup_restored').length, 5);
    await r.guard.stop();
  });

  it('without an event, the full check (RESYNC_INTERVAL) finds it; iptables-legacy reads its rules at every quick check', async () => {
    const nft = await rig('iptables-nft');
    await nft.guard.start();
    await nft.iptables!.apply('*nat\n:EGW-POSTROUTING - [0:0]\nCOMMIT\n');
    await nft.advance(2_000);
    assert.equal(nft.drifts().length, 0, 'iptables-nft: events tell; the quick check reads sysctls only');
    await nft.advance(28_000);
    assert.equal(nft.drifts().length, 1, 'the full check finds it');
    await nft.guard.stop();

    const legacy = await rig('iptables-legacy');
    await legacy.guard.start();
    await legacy.iptables!.apply('*nat\n:EGW-POSTROUTING - [0:0]\nCOMMIT\n');
    await legacy.advance(2_000);
    assert.equal(legacy.drifts().length, 1, 'iptables-legacy: the quick check reads the rules');
    await legacy.guard.stop();
  });

  it("nftables: table deleted or chain flushed → put back; vxlan0's MTU changes → the clamp follows", async () => {
    const r = await rig('nftables');
    await r.guard.start();
    const before = r.state();
    await r.nft.apply('delete table inet egress_gateway\n');
    r.guard.requestCheck('nf_tables changed');
    await r.advance(20);
    assert.equal(r.state(), before);
    assert.match(String(r.drifts().at(-1)?.detail), /^ruleset:inet: everything we own there is gone$/);

    const vxlan = await r.links.get('vxlan0');
    r.links.addLink({ ...vxlan!, mtu: 1400 });
    r.guard.requestCheck("vxlan0's MTU changed");
    await r.advance(20);
    assert.match(String(r.drifts().at(-1)?.detail), /the MSS clamp follows vxlan0's MTU, 1450 → 1400/);
    assert.match(r.nft.dump(), /maxseg size > 1360 tcp option maxseg size set 1360/);
    assert.doesNotMatch(r.nft.dump(), /1410/);
    await r.guard.stop();
  });

  it('a sysctl changed: put back at the next quick check; one that cannot be written (read-only /proc/sys) is a problem until fixed from outside', async () => {
    const r = await rig('iptables-nft');
    await r.guard.start();
    await r.sysctl.set('net/ipv4/ip_forward', '0');
    await r.advance(2_000);
    assert.equal(await r.sysctl.get('net/ipv4/ip_forward'), '1');
    assert.equal(r.drifts().at(-1)?.item, 'sysctl:net.ipv4.ip_forward');
    assert.deepEqual(r.problems, [undefined]);

    // /proc/sys read-only from now on, as an unprivileged container mounts it.
    const set = r.sysctl.set.bind(r.sysctl);
    r.sysctl.set = async () => {
      const cause: NodeJS.ErrnoException = new Error('read-only file system');
      cause.code = 'EROFS';
      throw new GatewayError(ErrorCodes.KERNEL_OP_FAILED, `setting sysctl: ${cause.message}`, { cause });
    };
    await set('net/ipv4/conf/all/rp_filter', '1');
    await r.advance(2_000);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- an earlier deepEqual narrowed the type; the guard has pushed more since
    assert.match(r.problems[r.problems.length - 1] ?? '', /^net\.ipv4\.conf\.all\.rp_filter is 1, not 0, and the daemon cannot set it back \(\/proc\/sys is read-only in this container/);
    const logged = r.drifts().length;
    await r.advance(2_000);
    await r.advance(2_000);
    assert.equal(r.drifts().length, logged, 'logged and counted once, not at every check');
    assert.equal(await r.driftMetric('sysctl:net.ipv4.conf.all.rp_filter'), 1);
    await set('net/ipv4/conf/all/rp_filter', '0');
    await r.advance(2_000);
    assert.equal(r.problems[r.problems.length - 1], undefined, 'the problem clears once it is right again');
    await r.guard.stop();
  });

  it('a ruleset that cannot be put back (the tool fails) is a problem, retried, and clears once applied', async () => {
    const r = await rig('iptables-nft');
    await r.guard.start();
    await r.iptables!.apply('*nat\n:EGW-POSTROUTING - [0:0]\nCOMMIT\n');
    r.iptables!.rejectNext('iptables-nft-restore: line 3 failed: Resource busy');
    r.guard.requestCheck('nf_tables changed');
    await r.advance(20);
    assert.ok(r.problems[r.problems.length - 1]?.startsWith('putting back the ruleset:ipv4 rules: '), r.problems[r.problems.length - 1]);
    await r.advance(30_000);
    assert.equal(r.problems[r.problems.length - 1], undefined);
    assert.match(r.iptables!.dump(), /SNAT --to-source 100\.64\.2\.7/);
    await r.guard.stop();
  });

  it("the fail-safe's counter: drops while our rules were broken are expected; drops with our rules intact are a problem for one full interval", async () => {
    const r = await rig('iptables-nft');
    await r.guard.start();
    await r.iptables!.apply('*nat\n:EGW-POSTROUTING - [0:0]\nCOMMIT\n');
    r.reader.packets.set(OWNED.nftFailsafeTable, 3);
    r.guard.requestCheck('nf_tables changed');
    await r.advance(20);
    assert.deepEqual(r.problems, [undefined], 'explained by the repair');
    assert.equal(r.guard.status().failsafeDropped, 3);

    r.reader.packets.set(OWNED.nftFailsafeTable, 5);
    await r.advance(30_000);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- an earlier deepEqual narrowed the type; the guard has pushed more since
    assert.match(r.problems[r.problems.length - 1] ?? '', /^the fail-safe dropped 2 forwarded packets that were about to leave eth0 without SNAT, though the owned rules are intact/);
    await r.advance(30_000);
    assert.equal(r.problems[r.problems.length - 1], undefined, 'a full interval without new drops clears it');
    await r.guard.stop();
  });

  it('init never ran: everything is missing at start-up, logged and put in place (the daemon has NET_ADMIN)', async () => {
    const r = await rig('nftables', { applyInit: false });
    await r.guard.start();
    assert.deepEqual(r.drifts().map((l) => l.item), ['sysctl:net.ipv4.ip_forward', 'failsafe:inet', 'ruleset:inet']);
    assert.match(r.nft.dump(), /table inet egress_gateway \{/);
    assert.match(r.nft.dump(), /table inet egress_gateway_failsafe \{/);
    await r.guard.stop();
  });

  it('a read that fails (a tool missing) is reported, not thrown', async () => {
    const r = await rig('iptables-nft');
    r.reader.failWith = new GatewayError(ErrorCodes.BACKEND_UNAVAILABLE, 'iptables-nft-save cannot be started: ENOENT');
    await r.guard.start();
    assert.match(r.problems[r.problems.length - 1] ?? '', /^reading the failsafe:inet rules back: iptables-nft-save cannot be started: ENOENT$/);
    await r.guard.stop();
  });
});

describe('reading back what we own', () => {
  it('iptables-save: owned chains, their rules and the jumps into them; counters and foreign rules left out', () => {
    const save = `# Generated by iptables-nft-save v1.8.9
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [12:720]
:EGW-POSTROUTING - [3:180]
:FOREIGN - [0:0]
-A POSTROUTING -s 203.0.113.0/24 -j MASQUERADE
-A POSTROUTING -j EGW-POSTROUTING
-A EGW-POSTROUTING ! -s 100.64.2.7/32 -o eth0 -j SNAT --to-source 100.64.2.7 --random-fully
-A FOREIGN -j ACCEPT
COMMIT
*filter
:INPUT ACCEPT [0:0]
COMMIT
`;
    assert.equal(
      ownedIptablesLines(save, ['EGW-POSTROUTING', 'EGW-FORWARD']),
      `*nat
:EGW-POSTROUTING -
-A POSTROUTING -j EGW-POSTROUTING
-A EGW-POSTROUTING ! -s 100.64.2.7/32 -o eth0 -j SNAT --to-source 100.64.2.7 --random-fully
`,
    );
    assert.equal(ownedIptablesLines('*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n', ['EGW-POSTROUTING']), '');
  });

  it('nft: counters out of the text, summed apart; a table cut out of a whole ruleset', () => {
    const listing = `table inet egress_gateway_failsafe {
\tchain postrouting {
\t\ttype filter hook postrouting priority srcnat + 10; policy accept;
\t\tiifname "vxlan0" oifname "eth0" ip saddr != 100.64.2.7 counter packets 7 bytes 420 drop
\t\tiifname "vxlan0" oifname "eth0" meta nfproto ipv6 counter packets 2 bytes 160 drop
\t}
}
`;
    assert.equal(nftCounterPackets(listing), 9);
    assert.doesNotMatch(normalizeNftListing(listing), /packets/);
    assert.equal(normalizeNftListing(listing), normalizeNftListing(listing.replace('packets 7 bytes 420', 'packets 0 bytes 0')));
    assert.equal(nftTableBlock(`table ip other {\n}\n${listing}table inet x {\n}\n`, 'inet', 'egress_gateway_failsafe'), listing);
    assert.equal(nftTableBlock('table ip other {\n}\n', 'inet', 'egress_gateway_failsafe'), '');
  });

  it('describes a change by the lines that went and came', () => {
    assert.equal(describeListingChange('a\nb\n', 'a\nc\n'), 'missing: b; unexpected: c');
    assert.equal(describeListingChange('a\nb\n', ''), 'everything we own there is gone');
    assert.equal(describeListingChange('a\nb\n', 'b\na\n'), 'the same rules in another order');
  });
});
