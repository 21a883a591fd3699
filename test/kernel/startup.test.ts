import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { clientBlockRoute, eventually, prepareGateway, untilReady, type GatewayRun } from '../lab/gateway';
import { waitForOutput, withLab } from '../lab/lab';

/**
 * Issue 12, findings 3, 4 and 5, at the level of the command a container runs: the built program
 * in the lab's gateway pod, Felix reachable. Every start-up failure exits 2 with its coded message
 * and no stack trace, and the namespace is as it was; signals are handled from the start, SIGHUP is
 * logged and ignored, and the status socket goes away on every way out.
 */

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

function exited(child: ChildProcess): Promise<Exit> {
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stderr })));
}

async function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

const events = (gw: GatewayRun): { event?: string; [k: string]: unknown }[] =>
  gw.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event?: string });

describe('start-up failures: exit 2, the coded message, no stack trace, nothing changed', () => {
  it('health port in use, HEALTH_HOST not here, AUDIT_LOG in a missing folder, EGRESS_POD_IP not on the interface, EGRESS_INTERFACE missing', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      const holder = lab.spawn(lab.names.gwpod, lab.tcpTool('serve', '8080', lab.addrs.gwpod));
      try {
        await waitForOutput(holder, /listening/);
        const cases: [string, Record<string, string>, RegExp][] = [
          ['the health port in use', {}, /^egress-gateway: HEALTH_SERVER_FAILED: listening for health checks on 100\.64\.2\.7:8080: listen EADDRINUSE/],
          ['HEALTH_HOST on no interface', { HEALTH_PORT: '8081', HEALTH_HOST: '198.51.100.99' }, /^egress-gateway: CONFIG_INVALID: HEALTH_HOST="198\.51\.100\.99": 198\.51\.100\.99 is not an address of this network namespace/],
          ['AUDIT_LOG in a missing folder', { HEALTH_PORT: '8081', AUDIT_LOG: '/nonexistent/egw/audit.log' }, /^egress-gateway: CONFIG_INVALID: AUDIT_LOG="\/nonexistent\/egw\/audit\.log": cannot open the file for appending: ENOENT/],
          ['EGRESS_POD_IP on no interface', { HEALTH_PORT: '8081', EGRESS_POD_IP: '100.64.2.8' }, /^egress-gateway: CONFIG_INVALID: EGRESS_POD_IP="100\.64\.2\.8": 100\.64\.2\.8 is not an address of eth0 \(EGRESS_INTERFACE\)/],
          ['EGRESS_INTERFACE missing', { HEALTH_PORT: '8081', EGRESS_INTERFACE: 'eth9' }, /^egress-gateway: CONFIG_INVALID: EGRESS_INTERFACE="eth9": no interface of that name has an address/],
        ];
        const before = await lab.kernelState(lab.names.gwpod);
        for (const [name, env, message] of cases) {
          const result = await within(name, exited(gw.startDaemon({ LOG_SEVERITY: 'info', ...env })), 20_000);
          assert.deepEqual([result.code, result.signal], [2, null], `${name}: exit 2\n${result.stderr}`);
          assert.match(result.stderr, message, name);
          assert.equal(result.stderr.trim().split('\n').length, 1, `${name}: one line on stderr, no stack trace:\n${result.stderr}`);
          assert.doesNotMatch(result.stderr, /\n\s+at |ERR_HTTP2/, name);
          assert.equal(existsSync(gw.statusSocket), false, `${name}: no status socket left`);
          assert.equal(await lab.kernelState(lab.names.gwpod), before, `${name}: the namespace is as it was`);
        }
        // The same checks stop init before it changes anything.
        const init = await lab.gateway(['init'], { EGRESS_POD_IP: '100.64.2.8' });
        assert.equal(init.code, 2, init.stderr);
        assert.match(init.stderr, /^egress-gateway: CONFIG_INVALID: EGRESS_POD_IP="100\.64\.2\.8": 100\.64\.2\.8 is not an address of eth0/);
        assert.equal(await lab.kernelState(lab.names.gwpod), before, 'init changed nothing');
      } finally {
        holder.kill('SIGTERM');
        await gw.close();
      }
    }));
});

describe('signals', () => {
  it('SIGTERM while the daemon module is still loading (before any handler of the old code): drained, exit 0, the namespace as it was', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        const before = await lab.kernelState(lab.names.gwpod);
        const preload = join(__dirname, '..', 'lab', 'signal-on-load.js');
        const result = await within('exit', exited(gw.startDaemon({ NODE_OPTIONS: `--require ${preload}`, SIGNAL_ON_LOAD: '/src/daemon.js' })), 20_000);
        assert.match(result.stderr, /signal-on-load: SIGTERM after loading .*\/src\/daemon\.js/);
        assert.deepEqual([result.code, result.signal], [0, null], `not killed by the signal: ${result.stderr}`);
        const logs = events(gw);
        assert.ok(logs.some((l) => l.event === 'signal' && l['signal'] === 'SIGTERM'), 'the signal is logged');
        // Node hands the signal over when the event loop next turns, which may be a few components into
        // start-up: what started is stopped again, in reverse, and nothing after it starts.
        const started = logs.filter((l) => l.event === 'started' && l['component'] === 'lifecycle').map((l) => l['target']);
        const stopped = logs.filter((l) => l.event === 'stopped' && l['component'] === 'lifecycle').map((l) => l['target']);
        assert.deepEqual(stopped, [...started].reverse());
        assert.ok(!started.includes('policysync'), started.join(' '));
        assert.equal(logs.find((l) => l.event === 'draining')?.['delayMs'], 0);
        assert.equal(existsSync(gw.statusSocket), false);
        assert.equal(await lab.kernelState(lab.names.gwpod), before);
      } finally {
        await gw.close();
      }
    }));

  it('SIGHUP: logged and ignored; then SIGTERM twice: exit 143 at once, the status socket removed', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        const daemon = gw.startDaemon({ LOG_SEVERITY: 'info', DRAIN_DELAY: '30s' });
        const done = exited(daemon);
        await untilReady(gw);
        daemon.kill('SIGHUP');
        await eventually('SIGHUP logged', async () => (events(gw).some((l) => l.event === 'signal_ignored' && l['signal'] === 'SIGHUP') ? true : undefined));
        assert.equal((await gw.health('/readiness'))?.status, 200, 'still running and ready');
        assert.ok(existsSync(gw.statusSocket));
        daemon.kill('SIGTERM');
        await eventually('draining', async () => (events(gw).some((l) => l.event === 'draining') ? true : undefined));
        daemon.kill('SIGTERM');
        const result = await within('exit at once', done, 5_000);
        assert.deepEqual([result.code, result.signal], [143, null], result.stderr);
        assert.match(result.stderr, /SIGTERM again, exiting without waiting for the drain/);
        assert.equal(existsSync(gw.statusSocket), false, 'the status socket is removed on this way out too');
      } finally {
        await gw.close();
      }
    }));

  it('SIGTERM to a gateway that never became ready: no DRAIN_DELAY wait', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] }, { autoInSync: false });
      try {
        const daemon = gw.startDaemon({ LOG_SEVERITY: 'info', DRAIN_DELAY: '60s' });
        const done = exited(daemon);
        await eventually('running, connected, not ready', async () => {
          const r = await gw.health('/readiness');
          return r?.status === 503 && gw.felix.streamsConnected > 0 ? true : undefined;
        });
        const sent = Date.now();
        daemon.kill('SIGTERM');
        const result = await within('exit well before DRAIN_DELAY', done, 10_000);
        assert.deepEqual([result.code, result.signal], [0, null], result.stderr);
        const draining = events(gw).find((l) => l.event === 'draining');
        assert.equal(draining?.['delayMs'], 0);
        t.diagnostic(`exited ${Date.now() - sent} ms after SIGTERM (DRAIN_DELAY 60s)`);
      } finally {
        await gw.close();
      }
    }));
});

describe('AUDIT_LOG refuses a symlink', () => {
  it('a symlink at the path: exit 2 naming AUDIT_LOG, the link target untouched', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      const dir = mkdtempSync(join(tmpdir(), 'egw-audit-'));
      try {
        const target = join(dir, 'target');
        await lab.exec(lab.names.gwpod, ['sh', '-c', `printf keep > ${target} && ln -s ${target} ${join(dir, 'audit.log')}`]);
        const result = await within('exit', exited(gw.startDaemon({ AUDIT_LOG: join(dir, 'audit.log') })), 20_000);
        assert.deepEqual([result.code, result.signal], [2, null], result.stderr);
        assert.match(result.stderr, /^egress-gateway: CONFIG_INVALID: AUDIT_LOG="[^"]+": .*symbolic link/);
        assert.equal((await lab.exec(lab.names.gwpod, ['cat', target])).stdout, 'keep');
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await gw.close();
      }
    }));
});
