import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { runCommand } from '../../src/kernel/exec';
import { RETURN_PATH_ROUTE_PROTOCOL } from '../../src/kernel/return-path';
import type { RouteSpec, Step, StepResult } from './helpers/netlink-driver';

/**
 * The return-path netlink adapters and reconciler against a real kernel, in a namespace that holds
 * a veth `eth0` (its peer in a second namespace) and a `vxlan0`, as the gateway pod would. Every
 * kernel operation is read back with iproute2.
 */

const DRIVER = join(__dirname, 'helpers', 'netlink-driver.js');
const PROTO = String(RETURN_PATH_ROUTE_PROTOCOL);
const M1 = '66:f9:37:c3:7e:94'; // clientVtepMac('node1')
const M3 = '66:a4:6f:e0:c4:da'; // clientVtepMac('node3')

async function sh(args: string[]): Promise<string> {
  const r = await runCommand(args[0] as string, args.slice(1));
  if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Lines of iproute2 output, trailing blanks trimmed, sorted. */
function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '')
    .sort();
}

/** A fresh gateway-like namespace, removed when the test ends (also when it fails). */
async function gatewayNamespace(t: TestContext): Promise<string> {
  const ns = `h3rp-${process.pid}-${randomBytes(3).toString('hex')}`;
  const peer = `${ns}-peer`;
  t.after(async () => {
    await runCommand('ip', ['netns', 'del', ns]);
    await runCommand('ip', ['netns', 'del', peer]);
  });
  await sh(['ip', 'netns', 'add', ns]);
  await sh(['ip', 'netns', 'add', peer]);
  // No IPv6 in here: its automatic routes and neighbours would be noise in the netlink monitor.
  await sh(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  await sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  await sh(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer]);
  await sh(['ip', '-n', ns, 'addr', 'add', '198.51.100.12/24', 'dev', 'eth0']);
  await sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
  await sh(['ip', '-n', peer, 'link', 'set', 'eth0', 'up']);
  await sh(['ip', '-n', ns, 'link', 'add', 'vxlan0', 'type', 'vxlan', 'id', '4097', 'dstport', '4790', 'dev', 'eth0']);
  await sh(['ip', '-n', ns, 'link', 'set', 'vxlan0', 'up']);
  return ns;
}

/** Runs steps in a fresh process inside the namespace (each run: a restarted daemon). */
async function drive(ns: string, steps: Step[]): Promise<StepResult[]> {
  const r = await runCommand('ip', ['netns', 'exec', ns, process.execPath, DRIVER], { input: JSON.stringify(steps), timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`driver exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as StepResult[];
}

async function readBack(ns: string): Promise<{ routes: string[]; neigh: string[]; fdb: string[] }> {
  return {
    routes: lines(await sh(['ip', '-n', ns, 'route', 'show', 'proto', PROTO])),
    neigh: lines(await sh(['ip', '-n', ns, 'neigh', 'show', 'dev', 'vxlan0'])),
    fdb: lines(await sh(['ip', 'netns', 'exec', ns, 'bridge', 'fdb', 'show', 'dev', 'vxlan0'])),
  };
}

test('netlink adapters create, replace, list and remove routes, neighbours and FDB entries', async (t) => {
  const ns = await gatewayNamespace(t);
  const blockRoute = { dst: '100.64.1.0/26', gateway: '198.51.100.11', dev: 'vxlan0', onlink: true };
  const tunnelRoute = { dst: '100.64.1.1/32', dev: 'eth0', onlink: false };
  const neighbour = { ip: '198.51.100.11', mac: M1, dev: 'vxlan0' };
  const fdb = { mac: M1, dst: '198.51.100.11', dev: 'vxlan0' };

  const [a, b, c, d, listed] = await drive(ns, [
    { op: 'upsert', fdb },
    { op: 'upsert', neighbour },
    { op: 'upsert', route: tunnelRoute },
    { op: 'upsert', route: blockRoute },
    { op: 'list' },
  ]);
  assert.deepEqual([a?.ok, b?.ok, c?.ok, d?.ok], [true, true, true, true], JSON.stringify([a, b, c, d]));
  assert.deepEqual(listed?.listed, [
    `fdb ${M1} dev vxlan0 dst 198.51.100.11 self permanent`,
    `neigh 198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT`,
    'route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink',
    'route 100.64.1.1/32 dev eth0 scope link',
  ]);
  assert.deepEqual(await readBack(ns), {
    routes: ['100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink', '100.64.1.1 dev eth0 scope link'],
    neigh: [`198.51.100.11 lladdr ${M1} PERMANENT`],
    fdb: [`${M1} dst 198.51.100.11 self permanent`],
  });

  // Creating again is refused (the kernel holds it); replacing changes it in place.
  const [again, replaced, fdbMoved] = await drive(ns, [
    { op: 'upsert', route: blockRoute },
    { op: 'upsert', route: { ...blockRoute, gateway: '198.51.100.21' }, replace: true },
    { op: 'upsert', fdb: { ...fdb, dst: '198.51.100.21' } },
  ]);
  assert.equal(again?.code, 'EEXIST');
  assert.equal(replaced?.ok, true, replaced?.error);
  assert.equal(fdbMoved?.ok, true, fdbMoved?.error);
  const after = await readBack(ns);
  assert.deepEqual(after.routes, ['100.64.1.0/26 via 198.51.100.21 dev vxlan0 onlink', '100.64.1.1 dev eth0 scope link']);
  assert.deepEqual(after.fdb, [`${M1} dst 198.51.100.21 self permanent`]);

  // A route of another protocol with the same destination is neither replaced nor removed.
  await sh(['ip', '-n', ns, 'route', 'add', '100.64.5.0/26', 'via', '198.51.100.1', 'dev', 'eth0']);
  const [foreignAdd, foreignDel] = await drive(ns, [
    { op: 'upsert', route: { dst: '100.64.5.0/26', gateway: '198.51.100.15', dev: 'vxlan0', onlink: true } },
    { op: 'remove', route: { dst: '100.64.5.0/26', gateway: '198.51.100.1', dev: 'eth0', onlink: false } },
  ]);
  assert.equal(foreignAdd?.code, 'EEXIST');
  assert.equal(foreignDel?.ok, true, 'removing what we do not hold is a no-op');
  assert.deepEqual(lines(await sh(['ip', '-n', ns, 'route', 'show', '100.64.5.0/26'])), ['100.64.5.0/26 via 198.51.100.1 dev eth0']);

  const removed = await drive(ns, [
    { op: 'remove', route: { ...blockRoute, gateway: '198.51.100.21' } },
    { op: 'remove', route: tunnelRoute },
    { op: 'remove', neighbour },
    { op: 'remove', fdb: { ...fdb, dst: '198.51.100.21' } },
    { op: 'remove', neighbour }, // already gone: still fine
    { op: 'list' },
  ]);
  assert.deepEqual(removed.map((r) => r.ok), [true, true, true, true, true, true], JSON.stringify(removed));
  assert.deepEqual(removed[5]?.listed, []);
  assert.deepEqual(await readBack(ns), { routes: [], neigh: [], fdb: [] });
});

/** `ip monitor` in the namespace; `between` returns the events seen between two marker routes. */
async function monitor(t: TestContext, ns: string): Promise<{ between(fn: () => Promise<void>): Promise<string[]> }> {
  const child = spawn('ip', ['netns', 'exec', ns, 'ip', 'monitor', 'route', 'neigh'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
  t.after(() => {
    child.kill('SIGTERM');
  });
  let n = 0;
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  /**
   * Adds marker routes until the monitor prints one: the first may be added before the monitor has
   * subscribed; once one shows, everything after it will be reported too.
   */
  const mark = async (): Promise<string> => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const marker = `203.0.113.${++n}`;
      await sh(['ip', '-n', ns, 'route', 'add', `${marker}/32`, 'dev', 'eth0']);
      for (let i = 0; i < 10 && !out.includes(`${marker} `); i++) await sleep(25);
      if (out.includes(`${marker} `)) return marker;
    }
    assert.fail(`ip monitor reported none of the marker routes: ${out}`);
  };
  return {
    async between(fn) {
      const start = await mark();
      await fn();
      const end = await mark();
      const all = out.split('\n');
      const from = all.findIndex((l) => l.startsWith(`${start} `));
      const to = all.findIndex((l) => l.startsWith(`${end} `));
      return all.slice(from + 1, to).filter((l) => l.trim() !== '');
    },
  };
}

const CLIENTS: RouteSpec[] = [
  { dst: '100.64.1.0/26', kinds: ['remote_workload'], node: 'node1', nodeIp: '198.51.100.11', pool: 'vxlan' },
  { dst: '100.64.1.1/32', kinds: ['remote_tunnel'], node: 'node1', nodeIp: '198.51.100.11', pool: 'vxlan' },
  { dst: '100.64.3.0/26', kinds: ['remote_workload'], node: 'node3', nodeIp: '198.51.100.13' },
  { dst: '100.64.3.64/26', kinds: ['remote_workload'], node: 'node3', nodeIp: '198.51.100.13' },
  { dst: '100.64.2.0/26', kinds: ['local_workload'], node: 'node2', nodeIp: '198.51.100.12' },
];

test('reconcile programs the return path, leaves foreign entries alone, and a restart changes nothing', async (t) => {
  const ns = await gatewayNamespace(t);
  // Foreign: a static route, a learned (non-permanent) neighbour on vxlan0, a route of another table.
  await sh(['ip', '-n', ns, 'route', 'add', '100.64.9.0/24', 'via', '198.51.100.1', 'dev', 'eth0']);
  await sh(['ip', '-n', ns, 'neigh', 'add', '198.51.100.50', 'lladdr', '66:00:00:00:00:50', 'dev', 'vxlan0', 'nud', 'stale']);
  await sh(['ip', '-n', ns, 'route', 'add', '100.64.3.0/26', 'via', '198.51.100.1', 'dev', 'eth0', 'table', '100', 'proto', PROTO]);
  // Left behind by an earlier run: ours, and no longer wanted.
  await sh(['ip', '-n', ns, 'route', 'add', '100.64.8.0/26', 'via', '198.51.100.18', 'dev', 'vxlan0', 'onlink', 'proto', PROTO]);
  await sh(['ip', '-n', ns, 'neigh', 'add', '198.51.100.18', 'lladdr', '66:00:00:00:00:18', 'dev', 'vxlan0', 'nud', 'permanent']);

  const [first] = await drive(ns, [{ op: 'reconcile', routes: CLIENTS }]);
  assert.equal(first?.ok, true, first?.error);
  assert.equal(first.full, true);
  assert.equal(first.operations, 10, 'four routes, two neighbours, two FDB entries added; a stale route and neighbour removed');
  const want = {
    routes: [
      '100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink',
      '100.64.1.1 dev eth0 scope link',
      '100.64.3.0/26 via 198.51.100.13 dev vxlan0 onlink',
      '100.64.3.64/26 via 198.51.100.13 dev vxlan0 onlink',
    ],
    neigh: [`198.51.100.11 lladdr ${M1} PERMANENT`, `198.51.100.13 lladdr ${M3} PERMANENT`, '198.51.100.50 lladdr 66:00:00:00:00:50 STALE'],
    fdb: [`${M3} dst 198.51.100.13 self permanent`, `${M1} dst 100.64.1.1 self permanent`],
  };
  assert.deepEqual(await readBack(ns), want);
  assert.deepEqual(lines(await sh(['ip', '-n', ns, 'route', 'show', '100.64.9.0/24'])), ['100.64.9.0/24 via 198.51.100.1 dev eth0']);
  assert.deepEqual(lines(await sh(['ip', '-n', ns, 'route', 'show', 'table', '100'])), ['100.64.3.0/26 via 198.51.100.1 dev eth0 proto 69']);

  // A restarted daemon on a kernel that already holds the right state: no netlink change at all.
  const mon = await monitor(t, ns);
  let second: StepResult | undefined;
  const events = await mon.between(async () => {
    [second] = await drive(ns, [{ op: 'reconcile', routes: [...CLIENTS].reverse() }]);
  });
  assert.equal(second?.ok, true, second?.error);
  assert.equal(second.operations, 0);
  assert.deepEqual(events, [], 'the kernel saw no route or neighbour change');
  assert.deepEqual(await readBack(ns), want);

  // A node goes away: only its entries change.
  let third: StepResult | undefined;
  const changes = await mon.between(async () => {
    [third] = await drive(ns, [{ op: 'reconcile', routes: CLIENTS.filter((c) => c.node !== 'node3') }]);
  });
  assert.equal(third?.ok, true, third?.error);
  assert.equal(third.operations, 4);
  // The kernel reports a deleted neighbour in more than one message; what matters is that every
  // event is about node3 and none about node1's entries, which were left as they were.
  assert.ok(changes.length >= 3, changes.join('\n'));
  assert.ok(changes.every((l) => l.includes('198.51.100.13') || l.includes('100.64.3.')), changes.join('\n'));
  assert.ok(changes.some((l) => l.startsWith('Deleted 100.64.3.0/26 via 198.51.100.13 dev vxlan0')), changes.join('\n'));
  assert.deepEqual(await readBack(ns), {
    routes: ['100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink', '100.64.1.1 dev eth0 scope link'],
    neigh: [`198.51.100.11 lladdr ${M1} PERMANENT`, '198.51.100.50 lladdr 66:00:00:00:00:50 STALE'],
    fdb: [`${M1} dst 100.64.1.1 self permanent`],
  });
});

test('a failing entry is reported with what was being done, and the others are still programmed', async (t) => {
  const ns = await gatewayNamespace(t);
  // A foreign route holds one client block: that entry fails with EEXIST, the rest goes in.
  await sh(['ip', '-n', ns, 'route', 'add', '100.64.3.0/26', 'via', '198.51.100.1', 'dev', 'eth0']);
  const [r] = await drive(ns, [{ op: 'reconcile', routes: CLIENTS }]);
  assert.equal(r?.ok, false);
  assert.equal(r.error, 'programming route 100.64.3.0/26 via 198.51.100.13 dev vxlan0: EEXIST (RTM_NEWROUTE 100.64.3.0/26)');
  const back = await readBack(ns);
  assert.deepEqual(back.routes, ['100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink', '100.64.1.1 dev eth0 scope link', '100.64.3.64/26 via 198.51.100.13 dev vxlan0 onlink']);
  assert.deepEqual(lines(await sh(['ip', '-n', ns, 'route', 'show', '100.64.3.0/26'])), ['100.64.3.0/26 via 198.51.100.1 dev eth0']);
});

test('a batch of 3000 routes spans many datagrams; failures inside it and at its end are its own entries’, the rest is programmed and removed', async (t) => {
  const ns = await gatewayNamespace(t);
  const routes = Array.from({ length: 3000 }, (_, i) => {
    const a = 0x64400000 + i * 64; // 100.64.0.0 on, /26 each
    const dst = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/26`;
    return { dst, gateway: `198.51.100.${20 + (i % 50)}`, dev: 'vxlan0', onlink: true };
  });
  // Foreign routes hold two of the blocks: one in the middle of a datagram, one the batch's last.
  const taken = [routes[1000]?.dst as string, routes[2999]?.dst as string];
  for (const dst of taken) await sh(['ip', '-n', ns, 'route', 'add', dst, 'via', '198.51.100.1', 'dev', 'eth0']);
  const [added, listed] = await drive(ns, [{ op: 'bulk', action: 'upsert', routes }, { op: 'list' }]);
  assert.equal(added?.ok, false);
  assert.deepEqual(added.errors, taken.map((dst) => `EEXIST (RTM_NEWROUTE ${dst})`));
  assert.ok((added.datagrams ?? 0) >= 5, `3000 routes in ${added.datagrams} datagrams`);
  const want = routes.filter((r) => !taken.includes(r.dst)).map((r) => `${r.dst} via ${r.gateway} dev vxlan0 onlink`);
  assert.deepEqual((await readBack(ns)).routes, lines(want.join('\n')));
  // The dump behind `list` spans many reply datagrams too.
  assert.equal(listed?.listed?.filter((l) => l.startsWith('route ')).length, 2998);

  // Removing all 3000: ours go, the foreign two are not ours to match (ESRCH, done) and stay.
  const [removed] = await drive(ns, [{ op: 'bulk', action: 'remove', routes }]);
  assert.deepEqual(removed?.errors, []);
  assert.deepEqual((await readBack(ns)).routes, []);
  assert.deepEqual(lines(await sh(['ip', '-n', ns, 'route', 'show', 'via', '198.51.100.1'])), taken.map((dst) => `${dst} dev eth0`).sort());
});

test('the fingerprint changes with every owned entry, and with nothing else', async (t) => {
  const ns = await gatewayNamespace(t);
  const routes = Array.from({ length: 3 }, (_, i) => ({ dst: `100.64.${i + 1}.0/26`, gateway: '198.51.100.11', dev: 'vxlan0', onlink: true }));
  const [written, p0, p1] = await drive(ns, [
    { op: 'bulk', action: 'upsert', routes },
    { op: 'fingerprint' },
    { op: 'fingerprint' },
    { op: 'upsert', neighbour: { ip: '198.51.100.11', mac: M1, dev: 'vxlan0' } },
    { op: 'upsert', fdb: { mac: M1, dst: '198.51.100.11', dev: 'vxlan0' } },
  ]);
  assert.equal(written?.ok, true);
  assert.ok(p0?.print && p0.print === p1?.print, 'the same kernel, the same fingerprint');
  assert.equal(p0.error, undefined, 'the fingerprint is the digest of what a full read lists');
  const print = async (): Promise<string> => {
    const r = (await drive(ns, [{ op: 'fingerprint' }]))[0];
    assert.equal(r?.error, undefined, 'the fingerprint is the digest of what a full read lists');
    return r?.print ?? assert.fail('no fingerprint');
  };
  const base = await print();
  assert.notEqual(base, p0.print, 'the neighbour and the FDB entry count');

  // Others' state: a route of another protocol, a learned neighbour, an address: no change.
  await sh(['ip', '-n', ns, 'route', 'add', '203.0.113.0/24', 'via', '198.51.100.1', 'dev', 'eth0']);
  await sh(['ip', '-n', ns, 'neigh', 'add', '198.51.100.99', 'lladdr', '02:00:00:00:00:99', 'dev', 'eth0', 'nud', 'stale']);
  assert.equal(await print(), base);

  // Ours, changed behind the gateway's back: each makes a difference.
  await sh(['ip', '-n', ns, 'route', 'replace', '100.64.2.0/26', 'via', '198.51.100.13', 'dev', 'vxlan0', 'onlink', 'proto', PROTO]);
  const replaced = await print();
  assert.notEqual(replaced, base, 'a route of ours pointed elsewhere');
  await sh(['ip', '-n', ns, 'route', 'del', '100.64.3.0/26', 'proto', PROTO]);
  const deleted = await print();
  assert.notEqual(deleted, replaced, 'a route of ours deleted');
  await sh(['ip', 'netns', 'exec', ns, 'bridge', 'fdb', 'replace', M1, 'dev', 'vxlan0', 'dst', '198.51.100.77', 'self', 'permanent']);
  const fdbMoved = await print();
  assert.notEqual(fdbMoved, deleted, 'an FDB entry of ours repointed');
  await sh(['ip', '-n', ns, 'neigh', 'replace', '198.51.100.11', 'lladdr', M3, 'dev', 'vxlan0', 'nud', 'permanent']);
  assert.notEqual(await print(), fdbMoved, 'a neighbour of ours with another MAC');
});
