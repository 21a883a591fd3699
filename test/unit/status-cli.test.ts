import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseDaemonConfig } from '../../src/daemon-config';
import { Daemon } from '../../src/daemon';
import { runCommand, type CommandResult } from '../../src/kernel/exec';
import { FakeReturnPathKernel } from '../../src/fakes/return-path';
import { silentLogger } from '../../src/observability/logger';
import type { StatusDocument } from '../../src/status/model';
import { cliScript } from '../lab/cli-script';
import { TestFelix } from '../lab/test-felix';

/**
 * `egress-gateway status` as an operator runs it (a separate process, the real CLI) against a Daemon
 * built with fakes: a fake kernel, a test Felix on a temp socket, no health port. Both formats, a
 * daemon that is not ready, one whose kernel writes fail, and one that is not running at all.
 */

const REMOTE_WORKLOAD = 1;
const POOL_VXLAN = 2;
const clientBlock = {
  type: REMOTE_WORKLOAD,
  ip_pool_type: POOL_VXLAN,
  dst: '100.64.1.0/26',
  dst_node_name: 'node1',
  dst_node_ip: '198.51.100.11',
};

const work = mkdtempSync(join(tmpdir(), 'egw-status-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;

function status(args: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  return runCommand(process.execPath, [cliScript(), 'status', ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeoutMs: 20_000 });
}

interface Setup {
  readonly daemon: Daemon;
  readonly kernel: FakeReturnPathKernel;
  readonly statusSocket: string;
  readonly felix?: TestFelix;
  close(): Promise<void>;
}

/** A daemon on fakes; with `felix`, a test Felix sends the client block then in_sync. */
async function setup(opts: { felix: boolean; failRouteWrites?: boolean; routes?: (typeof clientBlock)[]; silentUntilInSync?: boolean }): Promise<Setup> {
  const dir = join(work, `d${++n}`);
  mkdirSync(dir);
  const felixSocket = join(dir, 'felix.sock');
  // One level deeper: the daemon makes the status folder itself.
  const statusSocket = join(dir, 'status', 'status.sock');
  const felix = opts.felix ? await TestFelix.start(felixSocket, { snapshot: { routes: opts.routes ?? [clientBlock] }, ...(opts.silentUntilInSync ? { silentUntilInSync: true } : {}) }) : undefined;
  const kernel = new FakeReturnPathKernel();
  if (opts.failRouteWrites) kernel.inject({ cls: 'route', op: 'upsert', errno: 'ENETUNREACH', times: Infinity });
  const daemon = new Daemon(
    parseDaemonConfig({ EGRESS_POD_IP: '100.64.2.7', DAEMON_SOCKET_PATH: felixSocket, HEALTH_PORT: '0', STATUS_SOCKET: statusSocket }),
    { kernel, logger: silentLogger() },
  );
  await daemon.start();
  return {
    daemon,
    kernel,
    statusSocket,
    ...(felix ? { felix } : {}),
    async close() {
      await daemon.stop();
      await felix?.stop();
    },
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('egress-gateway status against a daemon', () => {
  it('ready: exit 0; the table and the JSON say in sync, 1 route programmed as desired, no drift', async () => {
    const s = await setup({ felix: true });
    try {
      await until('ready', () => s.daemon.status().ready);

      const table = await status(['--socket', s.statusSocket]);
      assert.equal(table.code, 0, table.stderr);
      assert.equal(table.stderr, '');
      const lines = table.stdout.split('\n');
      assert.match(lines[0] ?? '', /^egress-gateway \d+\.\d+\.\d+ {2}pid \d+ {2}running {2}up \d+s$/);
      assert.equal(lines[1], 'READY: yes');
      assert.match(table.stdout, /\n {2}policysync {2}ok {5}in sync with Felix\n/);
      assert.match(table.stdout, /\n {2}state {9}connected, in sync\n/);
      assert.match(table.stdout, /\n {2}routes {12}1 {11}1\n {2}neighbours {8}1 {11}1\n {2}fdb {15}1 {11}1\n/);
      assert.match(table.stdout, /\n {2}drift {11}none\n/);
      assert.match(table.stdout, new RegExp(`\\n {2}status socket {6}${s.statusSocket}\\n`));
      assert.match(table.stdout, /\n {2}health server {6}off \(HEALTH_PORT=0\)\n/);

      const json = await status(['--json'], { STATUS_SOCKET: s.statusSocket });
      assert.equal(json.code, 0, json.stderr);
      const doc = JSON.parse(json.stdout) as StatusDocument;
      assert.equal(doc.ready, true);
      assert.equal(doc.pid, process.pid, 'the answer comes from this daemon');
      assert.equal(doc.phase, 'running');
      assert.equal(doc.policysync.inSync, true);
      assert.equal(doc.policysync.messages.route_update, 1);
      assert.ok(doc.policysync.lastInSync !== undefined);
      assert.deepEqual(doc.dataplane.desired, { routes: 1, neighbours: 1, fdb: 1 });
      assert.deepEqual(doc.dataplane.programmed, doc.dataplane.desired);
      assert.equal(doc.dataplane.drift.drifted, false);
      assert.equal(doc.dataplane.lastReconcile?.ok, true);
      assert.deepEqual(doc.probes, []);
    } finally {
      await s.close();
    }
    assert.equal(existsSync(s.statusSocket), false, 'the socket goes with the daemon');
  });

  it('no Felix: exit 1, and the output says which checks fail and why', async () => {
    const s = await setup({ felix: false });
    try {
      await until('a failed dial', () => s.daemon.status().policysync.lastError !== undefined);
      const table = await status(['--socket', s.statusSocket]);
      assert.equal(table.code, 1, table.stderr);
      assert.match(table.stdout, /\nREADY: NO \(failing: policysync, reconcile\)\n/);
      assert.match(table.stdout, /\n {2}policysync {2}FAIL {3}not yet in sync with Felix\n/);
      assert.match(table.stdout, /\n {2}reconcile {3}FAIL {3}no kernel reconcile has finished yet\n/);
      assert.match(table.stdout, /\n {2}last error {4}.*felix\.sock/);
      assert.match(table.stdout, /\n {2}note {12}not in sync with Felix: the kernel is not written until the next in_sync\n/);

      const json = await status(['--json', '--socket', s.statusSocket]);
      assert.equal(json.code, 1);
      const doc = JSON.parse(json.stdout) as StatusDocument;
      assert.equal(doc.ready, false);
      assert.deepEqual(doc.failing, ['policysync', 'reconcile']);
      assert.equal(doc.policysync.inSync, false);
      assert.equal(doc.policysync.streams, 0);
      assert.ok(doc.policysync.attempts >= 1);
      assert.equal(doc.dataplane.lastReconcile, undefined);
      assert.deepEqual(s.kernel.writes, [], 'nothing written, and status did not read the kernel either');
    } finally {
      await s.close();
    }
  });

  it('kernel writes failing: exit 1; drift names the entry that could not be programmed', async () => {
    const s = await setup({ felix: true, failRouteWrites: true });
    try {
      await until('a failed reconcile', () => s.daemon.status().dataplane.lastReconcile?.ok === false);
      const json = await status(['--json', '--socket', s.statusSocket]);
      assert.equal(json.code, 1, json.stderr);
      const doc = JSON.parse(json.stdout) as StatusDocument;
      assert.deepEqual(doc.failing, ['reconcile']);
      assert.equal(doc.dataplane.drift.drifted, true);
      assert.ok(doc.dataplane.drift.reasons.includes('routes: 1 desired, 0 programmed'), doc.dataplane.drift.reasons.join('\n'));
      assert.equal(doc.dataplane.drift.failures.length, 1);
      assert.match(doc.dataplane.drift.failures[0] ?? '', /^programming route 100\.64\.1\.0\/26 .*ENETUNREACH/);
      const table = await status(['--socket', s.statusSocket]);
      assert.equal(table.code, 1);
      assert.match(table.stdout, /\n {2}drift {11}YES\n {18}routes: 1 desired, 0 programmed\n/);
      assert.match(table.stdout, /\n {2}failed entries {2}programming route 100\.64\.1\.0\/26 .*ENETUNREACH/);
    } finally {
      await s.close();
    }
  });

  it('--entries, --block, --node: what is programmed, entry by entry, with the node each is for (issue 12)', async () => {
    const routes = [
      clientBlock,
      { ...clientBlock, dst: '100.64.1.64/26' },
      { ...clientBlock, dst: '100.64.3.0/26', dst_node_name: 'node3', dst_node_ip: '198.51.100.13' },
    ];
    const s = await setup({ felix: true, routes });
    try {
      await until('ready', () => s.daemon.status().ready);
      const all = await status(['--entries', '--socket', s.statusSocket]);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, /^PROGRAMMED \(all\): 3 routes, 2 neighbours, 2 FDB entries\n/);
      assert.match(all.stdout, /\n {2}100\.64\.1\.0\/26 +198\.51\.100\.11 +vxlan0 onlink +node1\n/);
      assert.match(all.stdout, /\n {2}100\.64\.3\.0\/26 +198\.51\.100\.13 +vxlan0 onlink +node3\n/);
      assert.match(all.stdout, /\nNEIGHBOURS\n {2}ADDRESS +MAC +DEV +NODE\n {2}198\.51\.100\.11 +66:f9:37:c3:7e:94 +vxlan0 +node1\n/);

      const block = await status(['--block', '100.64.1.0/26', '--json', '--socket', s.statusSocket]);
      assert.equal(block.code, 0, block.stderr);
      const doc = JSON.parse(block.stdout) as { routes: { dst: string; node?: string }[]; neighbours: { node?: string }[]; fdb: { node?: string; dst: string }[]; filter: unknown };
      assert.deepEqual(doc.filter, { block: '100.64.1.0/26' });
      assert.deepEqual(doc.routes.map((r) => `${r.dst} ${r.node}`), ['100.64.1.0/26 node1']);
      assert.deepEqual(doc.neighbours.map((n) => n.node), ['node1']);
      assert.deepEqual(doc.fdb.map((f) => `${f.node} ${f.dst}`), ['node1 198.51.100.11']);

      const node = await status(['--node', 'node3', '--socket', s.statusSocket]);
      assert.match(node.stdout, /^PROGRAMMED \(filter: node node3\): 1 routes, 1 neighbours, 1 FDB entries\n/);
      assert.doesNotMatch(node.stdout, /node1/);

      const bad = await status(['--block', 'nonsense', '--socket', s.statusSocket]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /CONFIG_INVALID: --block "nonsense" is not a CIDR/);
    } finally {
      await s.close();
    }
  });

  it('Felix accepts the connection but sends no headers (not in sync itself): status says so, not just "connecting" (issue 12)', async () => {
    const s = await setup({ felix: true, silentUntilInSync: true });
    try {
      await until('the socket connected', () => s.daemon.status().policysync.connecting?.step === 'awaiting headers');
      const table = await status(['--socket', s.statusSocket]);
      assert.equal(table.code, 1);
      assert.match(table.stdout, /\n {2}state {9}connecting \(connected to the socket \S+ ago; no response headers yet: Felix sends none until it is in sync itself\)\n/);
      const doc = JSON.parse((await status(['--json', '--socket', s.statusSocket])).stdout) as StatusDocument;
      assert.equal(doc.policysync.state, 'connecting');
      assert.equal(doc.policysync.connecting?.step, 'awaiting headers');
      assert.equal(doc.policysync.streams, 0, 'no stream has started: no headers came');
      s.felix?.sendInSync();
      await until('connected', () => s.daemon.status().policysync.state === 'connected');
      assert.equal(s.daemon.status().policysync.connecting, undefined);
    } finally {
      await s.close();
    }
  });

  it('no daemon: exit 3, naming the socket and asking whether the daemon runs', async () => {
    const socket = join(work, 'nobody', 'status.sock');
    const res = await status(['--socket', socket]);
    assert.equal(res.code, 3);
    assert.equal(res.stdout, '');
    assert.equal(
      res.stderr,
      `egress-gateway: DAEMON_UNREACHABLE: cannot get the status from ${socket}: no such socket: is \`egress-gateway start\` running in this container, with the same STATUS_SOCKET? (the daemon logs "status socket listening on PATH" when it starts; --socket PATH asks another one)\n`,
    );
    const json = await status(['--json'], { STATUS_SOCKET: socket });
    assert.equal(json.code, 3, '--json too');
    assert.equal(json.stdout, '');
  });

  it('a stopped daemon is unreachable too (its socket is gone)', async () => {
    const s = await setup({ felix: false });
    await s.close();
    const res = await status(['--socket', s.statusSocket]);
    assert.equal(res.code, 3);
    assert.match(res.stderr, /DAEMON_UNREACHABLE: .*no such socket/);
  });
});
