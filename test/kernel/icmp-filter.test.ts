import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { runCommand } from '../../src/kernel/exec';

/**
 * Issue 12: the raw ICMP socket of the probes received every ICMP packet of the pod, so an echo
 * flood at the egress IP was parsed in JavaScript packet by packet. With ICMP_FILTER (IPv4) and
 * ICMP6_FILTER (IPv6) the socket only gets echo replies: a namespace pair, the gateway's socket in
 * one probing the other, the other flooding it with echo requests; what reached the socket is
 * counted by type.
 */

async function ip(...args: string[]): Promise<void> {
  const r = await runCommand('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

async function pair(t: TestContext): Promise<{ gw: string; peer: string }> {
  const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const gw = `egw-icf-${tag}-gw`;
  const peer = `egw-icf-${tag}-peer`;
  t.after(async () => {
    for (const ns of [gw, peer]) await runCommand('ip', ['netns', 'delete', ns]);
  });
  await ip('netns', 'add', gw);
  await ip('netns', 'add', peer);
  await ip('-n', gw, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer);
  for (const [ns, v4, v6] of [
    [gw, '198.51.100.1/24', '2001:db8:5::1/64'],
    [peer, '198.51.100.2/24', '2001:db8:5::2/64'],
  ] as const) {
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    await ip('-n', ns, 'addr', 'add', v4, 'dev', 'eth0');
    await ip('-n', ns, 'addr', 'add', v6, 'dev', 'eth0', 'nodad');
    await ip('-n', ns, 'link', 'set', 'eth0', 'up');
  }
  return { gw, peer };
}

for (const family of [4, 6] as const) {
  test(`IPv${family}: an echo flood at the gateway reaches its raw socket as nothing; its own echo replies still do`, async (t) => {
    const { gw, peer } = await pair(t);
    const [self, other] = family === 4 ? ['198.51.100.1', '198.51.100.2'] : ['2001:db8:5::1', '2001:db8:5::2'];
    const helper = join(__dirname, 'icmp-filter-child.js');
    const child = spawn('ip', ['netns', 'exec', gw, process.execPath, helper, 'probe', String(family), other], { stdio: ['pipe', 'pipe', 'pipe'] });
    t.after(() => void child.kill('SIGKILL'));
    const lines = createInterface({ input: child.stdout });
    const next = (): Promise<string> => new Promise((resolve) => lines.once('line', resolve));
    assert.equal(await next(), 'ready');
    // 2000 echo requests back to back from the peer.
    const flood = await runCommand('ip', ['netns', 'exec', peer, process.execPath, helper, 'flood', String(family), self, '2000'], { timeoutMs: 60_000 });
    assert.equal(flood.code, 0, flood.stderr);
    const sent = JSON.parse(flood.stdout) as { sent: number; answered: number };
    assert.ok(sent.sent === 2000 && sent.answered > 1900, `the kernel itself answered the flood: ${flood.stdout}`);
    await new Promise((r) => setTimeout(r, 300));
    child.stdin.write('report\n');
    const report = JSON.parse(await next()) as { types: Record<string, number>; answered: number };
    child.stdin.end();
    const request = family === 4 ? '8' : '128';
    const reply = family === 4 ? '0' : '129';
    assert.equal(report.types[request] ?? 0, 0, `echo requests reached the socket: ${JSON.stringify(report.types)}`);
    assert.deepEqual(Object.keys(report.types).filter((k) => k !== reply), [], `only echo replies: ${JSON.stringify(report.types)}`);
    assert.ok(report.answered > 0 && (report.types[reply] ?? 0) > 0, `the probe's own replies got through: ${JSON.stringify(report)}`);
  });
}
