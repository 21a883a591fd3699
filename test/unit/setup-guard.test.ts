import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseInitConfig } from '../../src/config/init-config';
import { ErrorCodes, GatewayError } from '../../src/errors';
import { applyInit } from '../../src/init/apply';
import { planInit } from '../../src/init/plan';
import { FAILSAFE_RULES, OWNED } from '../../src/init/ruleset';
import { SetupGuard, describeListingChange } from '../../src/init/setup-guard';
import { FakeConntrackTable } from '../../src/fakes/conntrack';
import { FakeLinks } from '../../src/fakes/links';
import { FakeNeighbourCache } from '../../src/fakes/neighbour-cache';
import { FakeIptables, FakeNftables } from '../../src/fakes/netfilter';
import { FakeRulesetReader } from '../../src/fakes/ruleset-reader';
import { FakeSysctl } from '../../src/fakes/sysctl';
import { normalizeNftListing, nftCounterPackets, nftLineCounters, nftTableBlock, ownedIptablesLines } from '../../src/kernel/netfilter-state';
import { IPS_SRC_NAT, type ConntrackEvent } from '../../src/kernel/netlink/conntrack';
import type { NetfilterBackend } from '../../src/kernel/ports';
import { FakeClock } from '../../src/model/clock';
import { parseIp } from '../../src/model/ip';
import { createLogger, silentLogger } from '../../src/observability/logger';
import { createMetrics } from '../../src/observability/metrics';

/**
 * The setup guard on the stateful fakes (src/kernel/fake/*): init applied as init applies it, then
 * its state broken the ways the kernel tests break it for real (test/kernel/setup-guard.test.ts),
 * and the guard's answers read from the fakes' dumps, its log and its metric.
 */

const config = parseInitConfig({ EGRESS_POD_IP: '100.64.2.7' });
const dualStackConfig = parseInitConfig({ EGRESS_POD_IPS: '100.64.2.7,2001:db8:2::7' });

interface LogLine {
  readonly event?: string;
  readonly item?: string;
  readonly detail?: string;
  readonly [k: string]: unknown;
}

/** `sysctlEvents: false`: no netconf notices (the subscription failed), so the guard polls the sysctls. */
async function rig(backend: NetfilterBackend, opts: { applyInit?: boolean; sysctl?: FakeSysctl; sysctlEvents?: boolean; dualStack?: boolean } = {}) {
  const links = new FakeLinks();
  links.addLink({ name: 'eth0', kind: 'veth', up: true, mtu: 1500, mac: '0e:00:00:00:00:01' });
  const sysctl = opts.sysctl ?? new FakeSysctl((dev) => links.has(dev));
  const nft = new FakeNftables();
  const iptables = backend === 'nftables' ? undefined : new FakeIptables(backend);
  const netfilter = { netfilter: iptables ?? nft, ...(iptables ? { failsafe: nft } : {}) };
  const plan = planInit(opts.dualStack ? dualStackConfig : config, backend);
  if (opts.applyInit !== false) await applyInit(plan, { links, sysctl, ...netfilter }, silentLogger());
  else await links.ensureVxlan(plan.vxlan);
  const reader = new FakeRulesetReader({ ...(iptables ? { iptables } : {}), nft }, [OWNED.natChain, OWNED.mangleChain]);
  const clock = new FakeClock(1000);
  const logs: LogLine[] = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const metrics = createMetrics({ processMetrics: false });
  const problems: (string | undefined)[] = [];
  const conntrack = new FakeConntrackTable();
  const routes = new FakeNeighbourCache();
  const sysctlEvents = opts.sysctlEvents ?? true;
  const guard: SetupGuard = new SetupGuard({
    plan,
    links,
    sysctl,
    netfilter,
    reader,
    clock,
    logger,
    metrics,
    staleFlows: { conntrack, deviceOf: async (ip) => (await routes.nextHop(ip.text))?.dev },
    fullIntervalMs: 30_000,
    pollRules: backend === 'iptables-legacy',
    pollSysctls: !sysctlEvents,
    onProblem: (p) => void problems.push(p?.message),
  });
  if (sysctlEvents) sysctl.watcher().watch({ onChange: (what) => guard.requestSysctlCheck(what), onError: (err) => assert.fail(err) });
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
  const droppedMetric = async (kind: string): Promise<number> => {
    const m = (await metrics.failsafeDropped.get()).values.find((v) => v.labels.kind === kind);
    return m?.value ?? 0;
  };
  /** The kernel's fail-safe counter of one kind (packets since the table was written). */
  const dropped = (kind: keyof typeof FAILSAFE_RULES, packets: number): void => reader.count(OWNED.nftFailsafeTable, FAILSAFE_RULES[kind], packets);
  return { links, sysctl, nft, iptables, reader, clock, logs, guard, problems, state, drifts, advance, driftMetric, droppedMetric, dropped, conntrack, routes, metrics };
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

  it('dual-stack: the IPv6 SNAT chain flushed and IPv6 forwarding turned off are logged as IPv6 drift and put back', async () => {
    const r = await rig('iptables-nft', { dualStack: true });
    await r.guard.start();
    const before = r.state();
    assert.deepEqual(r.drifts(), [], 'an intact dual-stack setup reads back as our own');
    await r.iptables!.apply('*nat\n:EGW-POSTROUTING - [0:0]\nCOMMIT\n', 'ipv6');
    r.guard.requestCheck('nf_tables changed');
    await r.advance(20);
    assert.deepEqual(r.drifts().map((l) => l.item), ['ruleset:ipv6']);
    assert.match(String(r.drifts()[0]?.detail), /missing: .*-A EGW-POSTROUTING ! -s 2001:db8:2::7\/128 -o eth0 -j SNAT/);
    assert.equal(r.state(), before, 'the IPv6 SNAT is back');
    await r.sysctl.set('net/ipv6/conf/all/forwarding', '0');
    await r.advance(20);
    assert.equal(r.drifts().at(-1)?.item, 'sysctl:net.ipv6.conf.all.forwarding');
    assert.equal(await r.sysctl.get('net/ipv6/conf/all/forwarding'), '1');
    assert.equal(await r.driftMetric('ruleset:ipv6'), 1);
    assert.deepEqual(r.problems, [undefined]);
    await r.guard.stop();
  });

  it('without an event, the full check (RESYNC_INTERVAL) finds it; iptables-legacy reads its rules at every quick check', async () => {
    const nft = await rig('iptables-nft');
    await nft.guard.start();
    await nft.iptables!.apply('*nat\n:EGW-POSTROUTING - [0:0]\nCOMMIT\n');
    await nft.advance(2_000);
    assert.equal(nft.drifts().length, 0, 'iptables-nft: events tell; nothing is read on a short timer');
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

  it('ip_forward=0 written while a check is between reading it and vxlan0.forwarding (which the kernel resets with it): one drift, for the cause', async () => {
    // The race is a poll's: without netconf notices, as when the subscription fails.
    const r = await rig('iptables-nft', { sysctlEvents: false });
    await r.guard.start();
    const get = r.sysctl.get.bind(r.sysctl);
    let written = false;
    r.sysctl.get = async (key: string) => {
      const value = await get(key);
      // The operator's write lands just after this check read ip_forward as 1.
      if (key === 'net/ipv4/ip_forward' && !written) {
        written = true;
        await r.sysctl.set('net/ipv4/ip_forward', '0');
      }
      return value;
    };
    await r.advance(2_000);
    assert.ok(written);
    assert.equal(await r.sysctl.get('net/ipv4/ip_forward'), '1');
    assert.equal(await r.sysctl.get('net/ipv4/conf/vxlan0/forwarding'), '1', 'set back with ip_forward');
    assert.deepEqual(
      r.drifts().map((l) => l.item),
      ['sysctl:net.ipv4.ip_forward'],
    );
    await r.advance(2_000);
    assert.equal(r.drifts().length, 1, 'nothing more at the next check');
    assert.deepEqual(r.problems, [undefined]);

    // vxlan0's own flag alone is its own drift.
    await r.sysctl.set('net/ipv4/conf/vxlan0/forwarding', '0');
    await r.advance(2_000);
    assert.deepEqual(
      r.drifts().map((l) => l.item),
      ['sysctl:net.ipv4.ip_forward', 'sysctl:net.ipv4.conf.vxlan0.forwarding'],
    );
    await r.guard.stop();
  });

  it('a sysctl changed: the netconf notice has it put back at once; with nothing else to poll, no timer but the full check runs', async () => {
    const r = await rig('iptables-nft');
    const reads: string[] = [];
    const get = r.sysctl.get.bind(r.sysctl);
    r.sysctl.get = (key) => (reads.push(key), get(key));
    await r.guard.start();
    assert.equal(r.clock.pendingTimers(), 1, 'the full check only');
    reads.length = 0;
    await r.advance(20_000);
    assert.deepEqual(reads, [], 'no sysctl is read while nothing changes');
    await r.sysctl.set('net/ipv4/conf/vxlan0/forwarding', '0');
    await r.advance(20);
    assert.equal(await r.sysctl.get('net/ipv4/conf/vxlan0/forwarding'), '1');
    assert.equal(r.drifts().at(-1)?.item, 'sysctl:net.ipv4.conf.vxlan0.forwarding');
    await r.sysctl.set('net/ipv4/conf/all/rp_filter', '2');
    await r.advance(20);
    assert.equal(await r.sysctl.get('net/ipv4/conf/all/rp_filter'), '0');
    assert.equal(r.drifts().at(-1)?.item, 'sysctl:net.ipv4.conf.all.rp_filter');
    assert.equal(r.drifts().length, 2);
    assert.deepEqual(r.problems, [undefined]);
    await r.guard.stop();
  });

  it('without netconf notices: a sysctl changed is put back at the next quick check; one that cannot be written (read-only /proc/sys) is a problem until fixed from outside', async () => {
    const r = await rig('iptables-nft', { sysctlEvents: false });
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

  it("the fail-safe's escaped counter: drops while our rules were broken are expected; drops with our rules intact are a problem for one full interval", async () => {
    const r = await rig('iptables-nft');
    await r.guard.start();
    await r.iptables!.apply('*nat\n:EGW-POSTROUTING - [0:0]\nCOMMIT\n');
    r.dropped('escaped', 3);
    r.guard.requestCheck('nf_tables changed');
    await r.advance(20);
    assert.deepEqual(r.problems, [undefined], 'explained by the repair');
    assert.equal(r.guard.status().failsafeDropped, 3);
    assert.deepEqual(r.guard.status().failsafeDroppedByKind, { invalid: 0, stale: 0, escaped: 3 });

    r.dropped('escaped', 5);
    await r.advance(30_000);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- an earlier deepEqual narrowed the type; the guard has pushed more since
    assert.match(r.problems[r.problems.length - 1] ?? '', /^the fail-safe dropped 2 forwarded packets of new connections that were about to leave eth0 without SNAT, though the owned rules are intact/);
    assert.equal(await r.droppedMetric('escaped'), 5);
    await r.advance(30_000);
    assert.equal(r.problems[r.problems.length - 1], undefined, 'a full interval without new drops clears it');
    await r.guard.stop();
  });

  it('invalid packets (conntrack could not place them) are counted apart and are never a problem', async () => {
    const r = await rig('nftables');
    await r.guard.start();
    for (let i = 1; i <= 4; i++) {
      r.dropped('invalid', i * 7);
      await r.advance(30_000);
    }
    assert.deepEqual(r.problems, [undefined], 'readiness was never told of a problem');
    assert.deepEqual(r.guard.status().failsafeDroppedByKind, { invalid: 28, stale: 0, escaped: 0 });
    assert.equal(await r.droppedMetric('invalid'), 28);
    assert.ok(r.logs.some((l) => l.event === 'failsafe_dropped' && l.kind === 'invalid' && l.level === 'debug'));
    assert.equal(r.logs.filter((l) => l.level === 'warn').length, 0, 'nothing logged as a warning');
    await r.guard.stop();
  });

  it('a repair deletes the conntrack entries of client connections tracked without SNAT, and only those; their later drops delete again, never a problem', async () => {
    const r = await rig('iptables-nft');
    r.routes.routeVia('100.64.1.5', 'vxlan0', '198.51.100.11');
    r.routes.routeVia('198.51.100.13', 'eth0');
    r.routes.routeVia('198.51.100.11', 'eth0');
    r.routes.routeVia('100.64.2.7', 'lo');
    const entry = (id: number, src: string, dst: string, sport: number, status: number): ConntrackEvent => ({
      kind: 'update',
      family: 2,
      id,
      status,
      orig: { src: parseIp(src)!, dst: parseIp(dst)!, protocol: 6, srcPort: sport, dstPort: 7777 },
      reply: { src: parseIp(dst)!, dst: parseIp(status & IPS_SRC_NAT ? '100.64.2.7' : src)!, protocol: 6, srcPort: 7777, dstPort: sport },
    });
    const CONFIRMED = 1 << 3;
    r.conntrack.table = [
      entry(1, '100.64.1.5', '198.51.100.13', 40001, CONFIRMED), // tracked while the SNAT was missing
      entry(2, '100.64.1.5', '198.51.100.13', 40002, CONFIRMED | IPS_SRC_NAT), // translated: left alone
      entry(3, '198.51.100.11', '100.64.2.7', 40003, CONFIRMED), // a health check to the gateway itself
      entry(4, '100.64.1.5', '100.64.1.9', 40004, CONFIRMED), // client to client, not out of the underlay
    ];
    r.routes.routeVia('100.64.1.9', 'vxlan0', '198.51.100.11');
    await r.guard.start();
    assert.deepEqual(r.conntrack.deleted, [], 'nothing repaired at start: nothing deleted');

    await r.iptables!.apply('*nat\n:EGW-POSTROUTING - [0:0]\nCOMMIT\n');
    r.guard.requestCheck('nf_tables changed');
    await r.advance(20);
    assert.equal(
      r.conntrack.dump(),
      'table:\ntcp 100.64.1.5:40002 > 198.51.100.13:7777\ntcp 198.51.100.11:40003 > 100.64.2.7:7777\ntcp 100.64.1.5:40004 > 100.64.1.9:7777\ndeleted:\ntcp 100.64.1.5:40001 > 198.51.100.13:7777\n',
    );
    assert.equal(r.guard.status().staleFlowsDeleted, 1);
    assert.equal((await r.metrics.staleFlowsDeleted.get()).values[0]?.value, 1);
    assert.ok(r.logs.some((l) => l.event === 'stale_flows_deleted' && l.deleted === 1));

    // Later: packets of another such connection are dropped (its entry was made some other way): deleted too.
    r.conntrack.table.push(entry(5, '100.64.1.5', '198.51.100.13', 40005, CONFIRMED));
    r.dropped('stale', 4);
    await r.advance(30_000);
    assert.match(r.conntrack.dump(), /deleted:\n.*40001.*\n.*40005/);
    assert.equal(await r.droppedMetric('stale'), 4);
    assert.equal(r.problems[r.problems.length - 1], undefined, 'never a readiness problem');

    // Deleting fails: logged, not thrown, not a problem; tried again at the next drops.
    r.conntrack.failWith = new Error('EPERM');
    r.dropped('stale', 6);
    await r.advance(30_000);
    assert.ok(r.logs.some((l) => l.event === 'stale_flows_failed'));
    assert.equal(r.problems[r.problems.length - 1], undefined);
    await r.guard.stop();
  });

  it('iptables-legacy: a repair by the quick check reads the counters, so the drops up to it are explained, not an alarm at the next full check', async () => {
    const r = await rig('iptables-legacy');
    await r.guard.start();
    await r.iptables!.apply('*nat\n:EGW-POSTROUTING - [0:0]\nCOMMIT\n');
    r.dropped('escaped', 9);
    await r.advance(2_000);
    assert.equal(r.drifts().length, 1);
    assert.equal(r.guard.status().failsafeDroppedByKind.escaped, 9);
    await r.advance(30_000);
    assert.deepEqual(r.problems, [undefined]);
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

  for (const backend of ['iptables-nft', 'iptables-legacy', 'nftables'] as const) {
    it(`${backend}: what the start-up put back reads back equal at every later check (no repair loop)`, async () => {
      const r = await rig(backend, { applyInit: false });
      await r.guard.start();
      const repaired = r.drifts().length;
      const state = r.state();
      for (let i = 0; i < 3; i++) {
        r.guard.requestCheck('nf_tables changed');
        r.guard.requestSysctlCheck('net.ipv4.conf.all: forwarding=1');
        await r.advance(30_000);
      }
      assert.equal(r.drifts().length, repaired, JSON.stringify(r.drifts().slice(repaired)));
      assert.equal(r.state(), state, 'nothing written after the start-up');
      await r.guard.stop();
    });
  }

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

  it('nft: counters out of the text, summed apart and per rule; a table cut out of a whole ruleset', () => {
    const listing = `table inet egress_gateway_failsafe {
\tchain postrouting {
\t\ttype filter hook postrouting priority srcnat + 10; policy accept;
\t\tiifname "vxlan0" oifname "eth0" ip saddr != 100.64.2.7 jump without_snat
\t\tiifname "vxlan0" oifname "eth0" meta nfproto ipv6 jump without_snat
\t}

\tchain without_snat {
\t\tct state invalid counter packets 7 bytes 420 drop comment "invalid: conntrack could not place it, so NAT cannot translate it"
\t\tct status confirmed counter packets 0 bytes 0 drop comment "stale: its connection was tracked without SNAT, before a repair"
\t\tcounter packets 2 bytes 160 drop comment "escaped: a new connection the SNAT did not translate" # handle 7
\t}
}
`;
    assert.equal(nftCounterPackets(listing), 9);
    assert.deepEqual(
      [...nftLineCounters(listing)],
      [
        [FAILSAFE_RULES.invalid, 7],
        [FAILSAFE_RULES.stale, 0],
        [FAILSAFE_RULES.escaped, 2],
      ],
    );
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
