import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { clientVtepMac } from '../../src/model/mac';
import type { RouteUpdateWire } from '../../src/policysync/proto';
import { CLIENT_NODE_NAME, clientBlockRoute, eventually, prepareGateway, type GatewayRun, untilReady } from '../lab/gateway';
import { waitForOutput, withLab, type Lab } from '../lab/lab';

/**
 * Faults around the daemon, on a real kernel with traffic through the gateway (issue 7): Felix
 * going away and coming back, its socket file in every wrong state, vxlan0 deleted by hand, and
 * init's netfilter tools failing. What each showed is written down in docs/reliability.md.
 */

const PORT = '7777';
const vtepMac = clientVtepMac(CLIENT_NODE_NAME);
/** The capabilities the container gets (see the Dockerfile and chart), nothing else, not even as root. */
export const CONTAINER_CAPS = ['setpriv', '--bounding-set=-all,+net_admin,+net_raw', '--inh-caps=-all,+net_admin,+net_raw', '--ambient-caps=-all,+net_admin,+net_raw'];

function expectedReturnPath(lab: Lab, blocks: readonly string[]): string {
  return [
    'routes:',
    ...blocks.map((b) => `${b} via ${lab.addrs.node1} dev vxlan0 onlink`),
    'neighbours:',
    `${lab.addrs.node1} lladdr ${vtepMac} PERMANENT`,
    'fdb:',
    `${vtepMac} dst ${lab.addrs.node1} self permanent`,
    '',
  ].join('\n');
}

function logCount(gw: GatewayRun, event: string): number {
  return gw.logs.filter((l) => l.includes(`"event":"${event}"`)).length;
}

async function status(gw: GatewayRun, path = '/readiness'): Promise<number | undefined> {
  return (await gw.health(path))?.status;
}

/** Starts a chat of `seconds` over the gateway and resolves once the first echo came back. */
async function startChat(lab: Lab, seconds: number): Promise<{ child: ChildProcess; echoes: () => number; exit: () => number | null | undefined; stderr: () => string }> {
  const child = lab.spawn(lab.names.cpod, [process.execPath, join(__dirname, '../lab/tcp-chat.js'), lab.addrs.ext, PORT, String(seconds * 1000), '100']);
  let out = '';
  let err = '';
  let code: number | null | undefined;
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  child.once('close', (c) => (code = c));
  await eventually('the chat’s first echo', async () => (/echo 1\b/.test(out) ? true : undefined));
  return { child, echoes: () => (out.match(/^echo \d+$/gm) ?? []).length, exit: () => code, stderr: () => err };
}

describe('faults: Felix', () => {
  it('PolicySync server killed and restarted 20 times, with and without a changed snapshot: the connection holds, the kernel follows each snapshot', (t) =>
    withLab(t, async (lab) => {
      const block = (third: number): RouteUpdateWire => clientBlockRoute(lab, { dst: `100.64.1.${third}/26` });
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab), block(64)] });
      try {
        const server = lab.spawn(lab.names.ext, lab.tcpTool('serve', PORT));
        await waitForOutput(server, /listening/);
        gw.startDaemon({ LOG_SEVERITY: 'info' });
        let blocks = [lab.clientBlock, '100.64.1.64/26'];
        await eventually('programmed', async () => ((await gw.returnPath()) === expectedReturnPath(lab, blocks) ? true : undefined));
        const chat = await startChat(lab, 300);
        let echoes = chat.echoes();
        for (let i = 0; i < 20; i++) {
          const changed = i % 2 === 1;
          const inSyncs = logCount(gw, 'in_sync');
          await gw.felix.stop();
          if (changed) {
            // Alternate the second block, and every fourth time add a third: adds and removals both.
            const second = i % 4 === 1 ? 128 : 64;
            blocks = i % 4 === 1 ? [lab.clientBlock, `100.64.1.${second}/26`, '100.64.1.192/26'] : [lab.clientBlock, `100.64.1.${second}/26`];
            gw.felix.setSnapshot({ routes: blocks.map((b) => clientBlockRoute(lab, { dst: b })) });
          }
          await gw.felix.start();
          const want = expectedReturnPath(lab, blocks);
          await eventually(`restart ${i + 1}: in_sync and the kernel matching the snapshot`, async () =>
            logCount(gw, 'in_sync') > inSyncs && (await gw.returnPath()) === want ? true : undefined,
          15_000);
          assert.equal(chat.exit(), undefined, `restart ${i + 1}: the connection broke: ${chat.stderr()}`);
          await eventually(`restart ${i + 1}: echoes still coming back`, async () => (chat.echoes() > echoes ? true : undefined));
          echoes = chat.echoes();
        }
        assert.equal(gw.daemon?.exitCode, null, 'the daemon never restarted');
        assert.equal(logCount(gw, 'in_sync'), 21);
        assert.equal(chat.exit(), undefined, chat.stderr());
        chat.child.kill('SIGTERM');
      } finally {
        await gw.close();
      }
    }));

  it('socket file deleted, then replaced by a directory: logged, retried with backoff, 503 after the datastore timeout, recovery without a restart', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        const daemon = gw.startDaemon({ HEALTH_TIMEOUT_DATASTORE: '2s' });
        await untilReady(gw, 'ready');

        // Deleting the file does not touch a connected stream: nothing changes until it ends.
        rmSync(gw.socketPath);
        await new Promise((r) => setTimeout(r, 2500));
        assert.equal(await status(gw), 200, 'an open stream outlives its socket file');
        const lostBefore = logCount(gw, 'stream_lost');
        gw.felix.destroyStreams();
        await eventually('503 once the datastore timeout ran out', async () => ((await status(gw)) === 503 ? true : undefined), 10_000);
        const lost = gw.logs.filter((l) => l.includes('"event":"stream_lost"')).slice(lostBefore);
        assert.ok(lost.some((l) => /ENOENT|No such file/.test(l)), `the reason is logged:\n${lost.join('\n')}`);
        const delays = lost.map((l) => (JSON.parse(l) as { retryInMs: number }).retryInMs);
        assert.ok(delays.length >= 3 && delays.length < 12, `retried, but with backoff: ${delays.join(', ')}`);
        assert.ok((delays.at(-1) ?? 0) > (delays[0] ?? 0), `the delay grows: ${delays.join(', ')}`);
        const body = (await gw.health('/readiness'))?.body ?? '';
        assert.match(body, /"failing":\["policysync"\]/);
        assert.match(await gw.returnPath(), /via/, 'the kernel keeps the return path meanwhile');

        await gw.felix.stop();
        await gw.felix.start(); // a new socket file at the same path
        await untilReady(gw, 'ready again', 15_000);

        // The path becomes a directory (a broken hostPath mount looks like this).
        await gw.felix.stop();
        mkdirSync(gw.socketPath);
        const lostBeforeDir = logCount(gw, 'stream_lost');
        await eventually('503 with a directory at the socket path', async () => ((await status(gw)) === 503 ? true : undefined), 10_000);
        const dirLost = gw.logs.filter((l) => l.includes('"event":"stream_lost"')).slice(lostBeforeDir);
        assert.ok(dirLost.some((l) => /ECONNREFUSED|ENOTSOCK|EISDIR|UNAVAILABLE/.test(l)), dirLost.join('\n'));
        rmdirSync(gw.socketPath);
        await gw.felix.start();
        await untilReady(gw, 'ready again after the directory went', 15_000);
        assert.equal(daemon.exitCode, null, 'one daemon throughout');
        assert.equal(logCount(gw, 'handler_failed'), 0);
      } finally {
        await gw.close();
      }
    }));

  it('permission denied on the socket (root without CAP_DAC_OVERRIDE, as in the container): logged, 503, recovers once access is given', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      const dir = join(gw.socketPath, '..');
      try {
        const daemon = gw.startDaemon({ HEALTH_TIMEOUT_DATASTORE: '2s' }, CONTAINER_CAPS);
        await untilReady(gw, 'ready');
        const caps = /^CapEff:\s*(\S+)$/m.exec(procStatus(daemon.pid ?? 0))?.[1];
        assert.equal(caps, '0000000000003000', 'the daemon holds NET_ADMIN and NET_RAW only');

        chmodSync(dir, 0o000);
        const lostBefore = logCount(gw, 'stream_lost');
        gw.felix.destroyStreams();
        await eventually('503 after the datastore timeout', async () => ((await status(gw)) === 503 ? true : undefined), 10_000);
        const lost = gw.logs.filter((l) => l.includes('"event":"stream_lost"')).slice(lostBefore);
        assert.ok(lost.some((l) => /EACCES|ermission denied/.test(l)), `EACCES is logged:\n${lost.join('\n')}`);
        chmodSync(dir, 0o700);
        await untilReady(gw, 'ready again', 15_000);
        assert.equal(daemon.exitCode, null);
      } finally {
        chmodSync(dir, 0o700);
        await gw.close();
      }
    }));
});

/** The daemon's pid is the same seen from the test (network namespaces share the pid namespace). */
function procStatus(pid: number): string {
  return readFileSync(`/proc/${pid}/status`, 'utf8');
}

describe('faults: vxlan0', () => {
  it('deleted by hand while the daemon runs: 503 naming it, re-created as init made it, return path back, traffic again', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        const server = lab.spawn(lab.names.ext, lab.tcpTool('serve', PORT));
        await waitForOutput(server, /listening/);
        const daemon = gw.startDaemon();
        const want = expectedReturnPath(lab, [lab.clientBlock]);
        await eventually('programmed and ready', async () => ((await gw.returnPath()) === want && (await status(gw)) === 200 ? true : undefined));
        const linkBefore = await vxlanLink(lab);

        const changesBefore = logCount(gw, 'readiness_changed');
        await lab.exec(lab.names.gwpod, ['ip', 'link', 'del', 'vxlan0']);
        // The repair takes milliseconds once the guard looks, too short to catch by polling
        // /readiness: the daemon's own log of each readiness change is the record.
        const changes = await eventually('503 and then 200 logged', async () => {
          const after = gw.logs.filter((l) => l.includes('"event":"readiness_changed"')).slice(changesBefore);
          return after.length >= 2 ? after.map((l) => JSON.parse(l) as { ready: boolean; failing: string[]; reason?: string }) : undefined;
        }, 15_000);
        assert.equal(changes[0]?.ready, false);
        assert.deepEqual(changes[0].failing, ['reconcile']);
        assert.match(changes[0].reason ?? '', /vxlan0 does not exist/);
        assert.equal(changes[1]?.ready, true);
        await eventually('ready again with the return path back', async () =>
          (await status(gw)) === 200 && (await gw.returnPath()) === want ? true : undefined,
        15_000);
        assert.equal(await vxlanLink(lab), linkBefore, 'the same device as init made');
        const rp = await lab.exec(lab.names.gwpod, ['sysctl', '-n', 'net.ipv4.conf.vxlan0.rp_filter']);
        assert.equal(rp.stdout.trim(), '0');
        const ok = await lab.exec(lab.names.cpod, lab.tcpTool('connect', lab.addrs.ext, PORT, 'after the repair', '3000'), { allowFail: true });
        assert.equal(ok.code, 0, ok.stderr);
        assert.equal(logCount(gw, 'vxlan_device_broken'), 1, 'one warning, no storm');
        assert.equal(daemon.exitCode, null, 'no crash, no restart');
      } finally {
        await gw.close();
      }
    }));
});

/** vxlan0 as `ip -d link` prints it, without the index and counters that a re-creation changes. */
async function vxlanLink(lab: Lab): Promise<string> {
  const res = await lab.exec(lab.names.gwpod, ['ip', '-d', '-o', 'link', 'show', 'vxlan0']);
  return res.stdout.replace(/^\d+: /, '').replace(/\s+/g, ' ').replace(/ (altname|link-netnsid) \S+/g, '').trim();
}

describe('faults: init with netfilter tools that fail', () => {
  const cases: Array<{ backend: string; env: Record<string, string>; tool: string; passthrough?: string }> = [
    { backend: 'iptables-nft', env: { IPTABLES_BACKEND: 'nft' }, tool: 'iptables-nft-restore', passthrough: '--version' },
    { backend: 'iptables-legacy', env: { IPTABLES_BACKEND: 'legacy' }, tool: 'iptables-legacy-restore', passthrough: '--version' },
    { backend: 'nftables', env: { DATAPLANE: 'nftables' }, tool: 'nft', passthrough: '--version' },
  ];
  for (const c of cases) {
    it(`${c.backend}: ${c.tool} reads the ruleset then exits 1: a clear error naming it, exit 1, no SNAT or clamp rule left behind`, (t) =>
      withLab(t, async (lab) => {
        const bin = mkdtempSync(join(tmpdir(), 'egw-fakebin-'));
        t.after(() => rmSync(bin, { recursive: true, force: true }));
        // A stand-in that answers the availability check like the real tool, then fails the apply.
        writeFileSync(
          join(bin, c.tool),
          `#!/bin/sh\nif [ "$1" = "${c.passthrough}" ]; then exec /usr/sbin/${c.tool} "$@"; fi\ncat >/dev/null\necho "${c.tool}: simulated failure after reading the ruleset" >&2\nexit 1\n`,
          { mode: 0o755 },
        );
        const failsafe = async (): Promise<string> =>
          (await lab.exec(lab.names.gwpod, ['nft', 'list', 'table', 'inet', 'egress_gateway_failsafe'], { allowFail: true })).stdout;
        const netfilter = async (): Promise<string> => {
          const parts = [];
          // The fail-safe table apart (below): with iptables it is nft's part, applied first.
          const failsafeTable = (await failsafe()).split('\n').filter((l) => l !== '');
          for (const argv of [['iptables-nft-save'], ['iptables-legacy-save'], ['nft', 'list', 'ruleset']]) {
            const res = await lab.exec(lab.names.gwpod, argv, { allowFail: true });
            // Rules and chains only: listing legacy tables loads them, empty, which is not a change of ours.
            const listed = argv[0] === 'nft' ? withoutLines(res.stdout, failsafeTable) : res.stdout;
            parts.push(listed.split('\n').filter((l) => /^-A |^:(?!(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) )|^table |^\s+(chain|[a-z])/.test(l)).join('\n'));
          }
          return parts.join('\n---\n');
        };
        const before = await netfilter();
        const res = await lab.gateway(['init'], { EGRESS_POD_IP: lab.addrs.gwpod, PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, ...c.env });
        assert.equal(res.code, 1, res.stderr);
        assert.match(res.stderr, /NETFILTER_APPLY_FAILED: init step 3 of 3 \(netfilter ruleset\) failed: /);
        assert.ok(res.stderr.includes(c.tool) && res.stderr.includes('simulated failure'), `names the tool and passes on its words: ${res.stderr}`);
        assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
        assert.equal(await netfilter(), before, 'no partial ruleset');
        // The fail-safe goes in first and stays: a drop for forwarded traffic that is not SNATed is
        // the safe state to be left in (with nftables, the failing tool is nft itself: nothing at all).
        if (c.backend === 'nftables') assert.equal(await failsafe(), '');
        else {
          const table = await failsafe();
          assert.match(table, /iifname "vxlan0" oifname "eth0" ip saddr != 100\.64\.2\.7 jump without_snat/);
          assert.match(table, /\t\tcounter packets \d+ bytes \d+ drop comment "escaped: /);
        }
      }));
  }
});

/** `text` without the lines of `block` (one table of an `nft list ruleset`). */
function withoutLines(text: string, block: readonly string[]): string {
  if (block.length === 0) return text;
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l === block[0]);
  return start < 0 ? text : [...lines.slice(0, start), ...lines.slice(start + block.length)].join('\n');
}
