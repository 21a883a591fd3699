import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import type { CheckReport } from '../../src/health/readiness';
import { runCommand } from '../../src/kernel/exec';

/**
 * The real probes against the real kernel: a namespace pair joined by a veth (198.51.100.0/24,
 * 2001:db8:4::/64), the prober in one (raw ICMP socket), a peer in the other that answers
 * pings and runs a tiny HTTP server that always says 500.
 */

async function ip(...args: string[]): Promise<string> {
  const r = await runCommand('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

async function makePair(t: TestContext): Promise<{ probe: string; peer: string }> {
  const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const probe = `egw-h4-${tag}-probe`;
  const peer = `egw-h4-${tag}-peer`;
  // Registered before creating anything, so a half-built pair is removed too.
  t.after(async () => {
    for (const ns of [probe, peer]) await runCommand('ip', ['netns', 'delete', ns]);
  });
  await ip('netns', 'add', probe);
  await ip('netns', 'add', peer);
  await ip('-n', probe, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1', 'netns', peer);
  for (const [ns, dev, v4, v6] of [
    [probe, 'veth0', '198.51.100.1/24', '2001:db8:4::1/64'],
    [peer, 'veth1', '198.51.100.2/24', '2001:db8:4::2/64'],
  ] as const) {
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    await ip('-n', ns, 'addr', 'add', v4, 'dev', dev);
    await ip('-n', ns, 'addr', 'add', v6, 'dev', dev, 'nodad');
    await ip('-n', ns, 'link', 'set', dev, 'up');
  }
  return { probe, peer };
}

/** Node in `ns`, killed when the test ends. */
function spawnIn(t: TestContext, ns: string, argv: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('exit', (code) => {
    if (code !== 0 && code !== null) process.stderr.write(`child in ${ns} exited ${code}: ${stderr}\n`);
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

interface Snapshot {
  readonly at: number;
  readonly icmp?: CheckReport;
  readonly http?: CheckReport;
  readonly mark?: number;
}

/** Reads the prober's JSON lines; `until` resolves with the first line that satisfies a predicate. */
function reader(child: ChildProcess) {
  const lines: Snapshot[] = [];
  const waiters: { pred: (s: Snapshot) => boolean; resolve: (s: Snapshot) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const s = JSON.parse(line) as Snapshot;
    lines.push(s);
    for (const w of [...waiters]) {
      if (w.pred(s)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(s);
      }
    }
  });
  return {
    lines,
    /** Bounded so a broken prober fails the test instead of hanging it. */
    until(pred: (s: Snapshot) => boolean, what: string, ms = 20_000): Promise<Snapshot> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`waited ${ms}ms for: ${what}; last line: ${JSON.stringify(lines.at(-1))}`)), ms);
        waiters.push({
          pred,
          resolve: (s) => {
            clearTimeout(timer);
            resolve(s);
          },
        });
      });
    },
  };
}

const target = (check: CheckReport | undefined, name: string) => check?.targets?.find((t) => t.target === name);

const PEER_HTTP = [
  "require('node:http').createServer((req, res) => { res.statusCode = 500; res.end('broken'); })",
  ".listen(8080, '198.51.100.2', () => process.stdout.write('listening\\n'));",
  "process.stdin.on('end', () => process.exit(0)); process.stdin.resume();",
].join('');

test('kernel: ICMP and HTTP probes see a live peer, then notice the link go down', { timeout: 60_000 }, async (t) => {
  assert.equal(process.getuid?.(), 0, 'kernel tests run as root');
  const { probe, peer } = await makePair(t);

  const server = spawnIn(t, peer, ['-e', PEER_HTTP]);
  await new Promise<void>((resolve, reject) => {
    server.stdout?.once('data', () => resolve());
    server.once('exit', (code) => reject(new Error(`peer HTTP server exited ${code}`)));
  });

  const intervalMs = 500;
  const timeoutMs = 1500;
  const prober = spawnIn(t, probe, [
    join(__dirname, 'icmp-probe-child.js'),
    JSON.stringify({
      ICMP_PROBE_IPS: '198.51.100.2,2001:db8:4::2',
      ICMP_PROBE_INTERVAL: '500ms',
      ICMP_PROBE_TIMEOUT: '1.5s',
      // .3 has no host behind it: the connection never completes and is cut off at the interval.
      HTTP_PROBE_URLS: 'http://198.51.100.2:8080/health,http://198.51.100.3:8080/',
      HTTP_PROBE_INTERVAL: '500ms',
      HTTP_PROBE_TIMEOUT: '1.5s',
    }),
  ]);
  t.after(() => prober.stdin?.end());
  const out = reader(prober);

  // Echo replies from the peer, over IPv4 and ICMPv6.
  const up = await out.until(
    (s) => target(s.icmp, '198.51.100.2')?.lastSuccessAt !== undefined && target(s.icmp, '2001:db8:4::2')?.lastSuccessAt !== undefined,
    'echo replies from 198.51.100.2 and 2001:db8:4::2',
  );
  assert.equal(up.icmp?.ok, true);

  // A 500 still counts as alive; an address nobody answers does not.
  const http = await out.until(
    (s) => s.http?.ok === true && target(s.http, 'http://198.51.100.3:8080/')?.lastError !== undefined,
    'HTTP: the 500 answer counted and the silent address failed',
  );
  assert.equal(target(http.http, 'http://198.51.100.3:8080/')?.lastSuccessAt, undefined);
  assert.match(target(http.http, 'http://198.51.100.3:8080/')?.lastError ?? '', /no answer within 500ms|EHOSTUNREACH/);
  assert.ok(target(http.http, 'http://198.51.100.2:8080/health')?.lastSuccessAt !== undefined);

  // Link down: unhealthy within timeout + one interval of the prober's own clock.
  prober.stdin?.write('mark\n');
  const mark = (await out.until((s) => s.mark !== undefined, 'mark')).mark ?? assert.fail('no mark');
  await ip('-n', probe, 'link', 'set', 'veth0', 'down');
  const down = await out.until((s) => s.icmp?.ok === false, 'the ICMP check to fail after link down');
  assert.ok(down.at - mark <= timeoutMs + intervalMs, `ICMP check failed only ${Math.round(down.at - mark)}ms after link down`);
  for (const name of ['198.51.100.2', '2001:db8:4::2']) {
    const t4 = target(down.icmp, name);
    assert.ok((t4?.lastSuccessAt ?? Infinity) <= down.at - timeoutMs, `${name} answered after the link went down`);
    assert.ok(t4?.lastError !== undefined, `${name} has no error recorded`);
  }
  await out.until((s) => s.http?.ok === false, 'the HTTP check to fail after link down');

  // And back.
  await ip('-n', probe, 'link', 'set', 'veth0', 'up');
  await out.until((s) => s.icmp?.ok === true && s.http?.ok === true, 'both checks to recover after link up');

  prober.stdin?.end();
  server.stdin?.end();
});
