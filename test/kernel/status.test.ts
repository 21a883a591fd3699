import assert from 'node:assert/strict';
import { lstatSync, existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { StatusDocument } from '../../src/status/model';
import { clientBlockRoute, eventually, prepareGateway, type GatewayRun } from '../lab/gateway';
import { withLab, type Lab } from '../lab/lab';

/**
 * `egress-gateway status` run inside the gateway pod (as `kubectl exec` would) against the daemon
 * running there: through start-up, ready, a Felix that goes away, a SIGKILL that leaves a stale
 * socket, a restart, the drain and the end. Counts are checked against what the kernel really holds.
 */

interface Answer {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function statusCommand(lab: Lab, gw: GatewayRun, ...args: string[]): Promise<Answer> {
  return lab.gateway(['status', ...args], { STATUS_SOCKET: gw.statusSocket });
}

async function statusJson(lab: Lab, gw: GatewayRun): Promise<{ code: number; doc: StatusDocument }> {
  const res = await statusCommand(lab, gw, '--json');
  assert.ok(res.code === 0 || res.code === 1, `status answered (exit ${res.code}): ${res.stderr}`);
  return { code: res.code, doc: JSON.parse(res.stdout) as StatusDocument };
}

/** Polls `status --json` until `check` holds; returns that answer. */
function statusWhen(lab: Lab, gw: GatewayRun, what: string, check: (doc: StatusDocument, code: number) => boolean): Promise<{ code: number; doc: StatusDocument }> {
  return eventually(
    what,
    async () => {
      const res = await statusCommand(lab, gw, '--json');
      if (res.code !== 0 && res.code !== 1) return undefined;
      const doc = JSON.parse(res.stdout) as StatusDocument;
      return check(doc, res.code) ? { code: res.code, doc } : undefined;
    },
    15_000,
    200,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\ndaemon log:\n${gw.logs.slice(-40).join('\n')}`);
  });
}

/** Lines of the owned return path in the kernel, per class. */
function kernelCounts(text: string): { routes: number; neighbours: number; fdb: number } {
  const section = (name: string): number => {
    const body = text.split(`${name}:\n`)[1]?.split(/\n[a-z]+:\n/)[0] ?? '';
    return body.split('\n').filter((l) => l.trim() !== '').length;
  };
  return { routes: section('routes'), neighbours: section('neighbours'), fdb: section('fdb') };
}

describe('egress-gateway status in the gateway pod', () => {
  it('start-up, ready with an ICMP probe, SIGKILL (stale socket), restart, drain, gone', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] }, { autoInSync: false });
      try {
        gw.startDaemon({ ICMP_PROBE_IPS: lab.addrs.ext, ICMP_PROBE_INTERVAL: '500ms', ICMP_PROBE_TIMEOUT: '1500ms', DRAIN_DELAY: '2s' });
        await gw.felix.waitForOpenStreams(1);

        // Start-up: the stream is open but Felix has not said in_sync; status answers, exit 1.
        const early = await statusWhen(lab, gw, 'an answer while waiting for in_sync', (d) => d.policysync.state === 'connected');
        assert.equal(early.code, 1);
        assert.equal(early.doc.ready, false);
        assert.ok(early.doc.failing.includes('policysync'), early.doc.failing.join(','));
        assert.equal(early.doc.dataplane.programmed.routes, 0);
        const earlyTable = await statusCommand(lab, gw);
        assert.equal(earlyTable.code, 1);
        assert.match(earlyTable.stdout, /\nREADY: NO \(failing: [a-z, ]*policysync/);
        assert.match(earlyTable.stdout, /\n {2}policysync {2}FAIL {3}connected, waiting for the first in_sync from Felix\n/);

        const mode = lstatSync(gw.statusSocket).mode & 0o777;
        assert.equal(mode, 0o600, `socket mode ${mode.toString(8)}`);

        gw.felix.sendInSync();
        const { code, doc } = await statusWhen(lab, gw, 'ready', (_d, c) => c === 0);
        assert.equal(code, 0);
        assert.equal(doc.phase, 'running');
        assert.equal(doc.policysync.inSync, true);
        assert.equal(doc.policysync.socket, gw.socketPath);
        assert.equal(doc.config.egressIpv4, lab.addrs.gwpod);
        assert.equal(doc.config.health.boundPort, 8080);
        assert.deepEqual(doc.dataplane.drift, { drifted: false, reasons: [], failures: [], failuresOmitted: 0 });
        assert.deepEqual(doc.dataplane.programmed, { routes: 1, neighbours: 1, fdb: 1 });
        assert.deepEqual(kernelCounts(await gw.returnPath()), doc.dataplane.programmed, 'status agrees with the kernel');
        assert.equal(doc.probes[0]?.kind, 'icmp');
        assert.equal(doc.probes[0].targets[0]?.target, lab.addrs.ext);
        assert.equal(doc.probes[0].targets[0].state, 'up');
        assert.ok((doc.probes[0].targets[0].latencyMs ?? -1) >= 0);

        const table = await statusCommand(lab, gw);
        assert.equal(table.code, 0);
        assert.match(table.stdout, /\nREADY: yes\n/);
        assert.match(table.stdout, new RegExp(`\\n {2}icmp {2}${lab.addrs.ext.replace(/\./g, '\\.')} +up +\\S+ ago`));

        // SIGKILL: no clean-up, the socket file stays behind and nobody listens on it.
        await gw.kill();
        assert.ok(lstatSync(gw.statusSocket).isSocket(), 'the killed daemon left its socket');
        const stale = await statusCommand(lab, gw);
        assert.equal(stale.code, 3);
        assert.match(stale.stderr, /^egress-gateway: DAEMON_UNREACHABLE: cannot get the status from .*: connection refused: the socket is left over from a daemon that is no longer running\n$/);

        // A new daemon replaces the stale socket and answers (Felix sends in_sync on request here).
        gw.felix.onStream(() => setImmediate(() => gw.felix.sendInSync()));
        const daemon = gw.startDaemon({ ICMP_PROBE_IPS: lab.addrs.ext, ICMP_PROBE_INTERVAL: '500ms', ICMP_PROBE_TIMEOUT: '1500ms', DRAIN_DELAY: '2s' });
        const again = await statusWhen(lab, gw, 'ready after the restart', (_d, c) => c === 0);
        assert.notEqual(again.doc.pid, doc.pid, 'a new daemon answers');
        assert.ok(gw.logs.some((l) => l.includes('"event":"stale_socket_removed"')), 'the restart says it replaced the stale socket');

        // The drain: status keeps answering, exit 1, phase draining.
        const exited = new Promise<number | null>((resolve) => daemon.once('close', (c) => resolve(c)));
        daemon.kill('SIGTERM');
        const draining = await statusWhen(lab, gw, 'draining', (d) => d.phase === 'draining');
        assert.equal(draining.code, 1);
        assert.deepEqual(draining.doc.failing, ['drain']);
        assert.equal(draining.doc.drain.draining, true);
        assert.equal(await exited, 0);

        // Gone: the socket went with the daemon.
        assert.equal(existsSync(gw.statusSocket), false);
        const gone = await statusCommand(lab, gw, '--json');
        assert.equal(gone.code, 3);
        assert.equal(gone.stdout, '');
        assert.match(gone.stderr, /DAEMON_UNREACHABLE: .*no such socket: is `egress-gateway start` running in this container, with the same STATUS_SOCKET\?/);
      } finally {
        await gw.close();
      }
    }));

  it('Felix gone: status still answers from the daemon, showing the disconnect and the kept return path', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        gw.startDaemon({ HEALTH_TIMEOUT_DATASTORE: '1s' });
        await statusWhen(lab, gw, 'ready', (_d, c) => c === 0);
        await gw.felix.stop();
        const { code, doc } = await statusWhen(lab, gw, 'not ready past the datastore timeout', (d) => d.failing.includes('policysync'));
        assert.equal(code, 1);
        assert.notEqual(doc.policysync.state, 'connected');
        assert.equal(doc.policysync.inSync, false);
        assert.ok(doc.policysync.outOfSyncSince !== undefined);
        assert.ok(doc.policysync.lastError !== undefined && doc.policysync.lastError.length > 0);
        assert.match(doc.checks.policysync?.reason ?? '', /longer than HEALTH_TIMEOUT_DATASTORE/);
        // The kernel keeps the return path while Felix is away, and status says so without re-reading it.
        assert.deepEqual(doc.dataplane.programmed, { routes: 1, neighbours: 1, fdb: 1 });
        assert.deepEqual(kernelCounts(await gw.returnPath()), doc.dataplane.programmed);
        const table = await statusCommand(lab, gw);
        assert.equal(table.code, 1);
        assert.match(table.stdout, /\n {2}out of sync {3}since \S+ ago/);
        assert.match(table.stdout, /\n {2}note {12}not in sync with Felix: the kernel is not written until the next in_sync\n/);
        const json = await statusJson(lab, gw);
        assert.equal(json.code, 1);
      } finally {
        await gw.close();
      }
    }));
});
