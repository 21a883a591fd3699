import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { RouteUpdateWire } from '../../src/policysync/proto';
import { clientBlockRoute, eventually, prepareGateway } from '../lab/gateway';
import { waitForOutput, withLab } from '../lab/lab';

/**
 * Soak (issue 7): route churn at 1000 updates a second while a long-lived connection runs through
 * the gateway. RSS and open file descriptors are sampled every 2 s: the floor of RSS over the last
 * third stays within 10% of the warm-up's peak and descriptors stay put; the log has no warning
 * storm; the connection holds and the kernel ends up with exactly what Felix last said.
 * SOAK_SECONDS sets the length (60 in CI, 600 for `make soak`).
 */

const SECONDS = Number(process.env['SOAK_SECONDS'] ?? '60');
const RATE = 1000;
const SAMPLE_MS = 2_000;
/** The first third: the heap grows to its working size, JIT, the first resyncs. */
const WARMUP_SAMPLES = Math.floor(SECONDS / 3 / (SAMPLE_MS / 1000));
const POOL = 256;

interface Sample {
  readonly at: number;
  readonly rssKb: number;
  readonly fds: number;
}

function sample(pid: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN);
  return { at: Date.now(), rssKb, fds: readdirSync(`/proc/${pid}/fd`).length };
}

describe('soak', () => {
  it(`${SECONDS} s of route churn at ${RATE}/s with traffic through the gateway: RSS flat, descriptors constant, no warning storm`, { timeout: (SECONDS + 180) * 1000 }, (t) =>
    withLab(t, async (lab) => {
      assert.ok(Number.isInteger(SECONDS) && SECONDS >= 30, `SOAK_SECONDS=${SECONDS}: at least 30`);
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        const server = lab.spawn(lab.names.ext, lab.tcpTool('serve', '7777'));
        await waitForOutput(server, /listening/);
        const daemon = gw.startDaemon({ LOG_SEVERITY: 'info', RESYNC_INTERVAL: '10s' });
        await eventually('programmed', async () => ((await gw.returnPath()).includes(`${lab.clientBlock} via`) ? true : undefined));
        const pid = daemon.pid ?? 0;

        const chat = lab.spawn(lab.names.cpod, [process.execPath, join(__dirname, '../lab/tcp-chat.js'), lab.addrs.ext, '7777', String((SECONDS + 5) * 1000), '200']);
        let chatOut = '';
        chat.stdout?.on('data', (c: Buffer) => (chatOut += c.toString()));
        const chatDone = new Promise<number | null>((resolve) => chat.once('close', resolve));
        await waitForOutput(chat, /echo 1\b/);

        // Churn: blocks of a pool routed to another node, each update flipping one block on or off.
        const present = new Set<number>();
        const route = (i: number): RouteUpdateWire => clientBlockRoute(lab, { dst: `100.66.${i}.0/26`, dst_node_name: 'node9', dst_node_ip: '198.51.100.99' });
        let sent = 0;
        const started = Date.now();
        const samples: Sample[] = [sample(pid)];
        let nextSample = started + SAMPLE_MS;
        while (Date.now() - started < SECONDS * 1000) {
          const due = Math.floor(((Date.now() - started) / 1000) * RATE);
          for (; sent < due; sent++) {
            const i = (sent * 7919) % POOL;
            if (present.has(i)) {
              present.delete(i);
              gw.felix.sendRouteRemove(`100.66.${i}.0/26`);
            } else {
              present.add(i);
              gw.felix.sendRouteUpdate(route(i));
            }
          }
          if (Date.now() >= nextSample) {
            samples.push(sample(pid));
            nextSample += SAMPLE_MS;
          }
          await new Promise((r) => setTimeout(r, 10));
        }
        samples.push(sample(pid));

        // The kernel ends up with what Felix said last.
        await eventually('the last state programmed', async () => {
          const routes = (await gw.returnPath()).split('\n').filter((l) => l.startsWith('100.66.'));
          return routes.length === present.size ? true : undefined;
        }, 30_000);
        const code = await chatDone;
        assert.equal(code, 0, `the long-lived connection broke:\n${chatOut.slice(-500)}`);

        const report = samples.map((s) => `${Math.round((s.at - started) / 1000)}s rss=${s.rssKb}kB fds=${s.fds}`).join(', ');
        t.diagnostic(`${sent} updates in ${SECONDS} s\n${report}`);
        const base = samples[WARMUP_SAMPLES];
        assert.ok(base, `enough samples (${samples.length})`);
        // A leak raises the floor; the garbage collector's sawtooth only moves the peaks (a major
        // collection can come at any sample). So the lowest RSS of the last third is held to the
        // warm-up's peak.
        const warmPeak = Math.max(...samples.slice(0, WARMUP_SAMPLES + 1).map((s) => s.rssKb));
        const after = samples.slice(WARMUP_SAMPLES + 1);
        const lateFloor = Math.min(...samples.slice(-WARMUP_SAMPLES).map((s) => s.rssKb));
        assert.ok(lateFloor < warmPeak * 1.1, `RSS's floor over the last third grew ${((lateFloor / warmPeak - 1) * 100).toFixed(1)}% over the warm-up's peak:\n${report}`);
        // Descriptors: a leak raises the floor too; a child process's pipes may show in one sample.
        const lateFds = samples.slice(-WARMUP_SAMPLES).map((s) => s.fds);
        assert.equal(Math.min(...lateFds), base.fds, `open descriptors' floor changed:\n${report}`);
        assert.ok(Math.max(...after.map((s) => s.fds)) <= base.fds + 3, `open descriptors grew:\n${report}`);

        const warnings = gw.logs.filter((l) => /"level":"(warn|error|fatal)"/.test(l));
        assert.ok(warnings.length <= 5, `no warning storm (${warnings.length}):\n${warnings.slice(0, 10).join('\n')}`);
        assert.ok(sent >= SECONDS * RATE * 0.95, `the churn kept its rate (${sent} updates)`);
        assert.equal(daemon.exitCode, null);
      } finally {
        await gw.close();
      }
    }));
});
