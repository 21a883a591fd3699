import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { clientBlockRoute, prepareGateway } from '../lab/gateway';
import { withLab } from '../lab/lab';

/**
 * A SIGTERM while `egress-gateway start` is still starting (a pod deleted during start-up): the real
 * CLI in the lab's gateway pod, held inside start-up by a preloaded module (test/lab/hold-listen.ts)
 * until the signal has been sent, so the signal lands during start every time. The daemon must stop
 * what it started and exit 0, as after a drain, not die half-started nor run on.
 */

const HOLD = join(__dirname, '..', 'lab', 'hold-listen.js');

interface LogLine {
  readonly component?: string;
  readonly event?: string;
  readonly target?: string;
  readonly [key: string]: unknown;
}

describe('daemon: a signal during start-up', () => {
  it('SIGTERM while the health server is starting: what started is stopped, exit 0, no drain wait', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        const daemon = gw.startDaemon({ NODE_OPTIONS: `--require ${HOLD}`, HOLD_LISTEN_PORT: '8080' });
        let stderr = '';
        const held = new Promise<void>((resolve, reject) => {
          daemon.stderr?.on('data', (c: Buffer) => {
            stderr += c.toString();
            if (stderr.includes('hold-listen: holding listen on port 8080')) resolve();
          });
          daemon.once('close', (code) => reject(new Error(`exited ${code} before start-up reached the health server:\n${stderr}\n${gw.logs.join('\n')}`)));
        });
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
          daemon.once('close', (code, signal) => resolve({ code, signal })),
        );
        await held;
        assert.ok(existsSync(gw.statusSocket), 'the status server is up: start-up is under way');
        daemon.kill('SIGTERM');
        // A daemon that missed the signal runs on; give it far longer than a clean stop takes.
        let timer: NodeJS.Timeout | undefined;
        const result = await Promise.race([
          exited,
          new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), 30_000))),
        ]);
        clearTimeout(timer);
        assert.notEqual(result, 'still running', `the daemon did not stop after SIGTERM during start-up:\n${stderr}\n${gw.logs.join('\n')}`);
        assert.deepEqual(result, { code: 0, signal: null }, stderr);
        assert.match(stderr, /hold-listen: SIGTERM, listening/);

        const logs = gw.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
        const draining = logs.find((l) => l.event === 'draining');
        assert.equal(draining?.['duringStartUp'], true, 'the drain knows it came during start-up');
        assert.equal(draining['delayMs'], 0, 'no clients to move away: no wait');
        const started = logs.filter((l) => l.component === 'lifecycle' && l.event === 'started').map((l) => l.target);
        const stopped = logs.filter((l) => l.component === 'lifecycle' && l.event === 'stopped').map((l) => l.target);
        assert.equal(started.at(-1), 'health-server', 'the component being started when the signal came finished starting');
        assert.ok(started.includes('reconciler'), started.join(' '));
        // The stream to Felix is opened last, once everything that can fail at start-up has started.
        assert.ok(!started.includes('policysync'), started.join(' '));
        assert.deepEqual(stopped, [...started].reverse(), 'everything that started is stopped, in reverse');
        assert.ok(logs.some((l) => l.component === 'daemon' && l.event === 'stopped'), 'the daemon says it stopped');
        assert.equal(existsSync(gw.statusSocket), false, 'the status socket is removed');
        assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
      } finally {
        await gw.close();
      }
    }));
});
