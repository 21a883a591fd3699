import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCommand } from '../../src/kernel/exec';

/**
 * `make demo` is a check as well as a show: this runs the compiled demo program (scripts/demo.sh
 * minus the set-up, which the test command has done) and holds its output to what the seed's blog
 * shows: node1's address on the wire while the pod is not steered, the egress IP once it is,
 * readiness 200, the drain; then, for Calico OSS (DEMO_PART=oss, once), the same through the agents
 * and the API stand-in; and it proves Ctrl-C leaves nothing behind. Each half runs on its own here
 * (DEMO_PART), `make demo` runs both.
 */
const DEMO = join(__dirname, '..', '..', 'demo', 'run.js');
const SYN_FROM = (src: string): RegExp => new RegExp(`^    \\S+ IP ${src.replaceAll('.', '\\.')}\\.\\d+ > 198\\.51\\.100\\.13\\.7777: Flags \\[S\\],`, 'm');

/** The text under the heading "=== <n>. ..." up to the next heading. */
function section(out: string, n: string): string {
  const start = out.indexOf(`\n=== ${n}`);
  assert.ok(start >= 0, `the output has a section ${n}:\n${out}`);
  const next = out.indexOf('\n=== ', start + 1);
  return out.slice(start, next < 0 ? undefined : next);
}

function demoEnv(dataplane: string, part = 'enterprise'): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', DEMO_DATAPLANE: dataplane, DEMO_PART: part };
}

async function namespacesOf(pid: number): Promise<string[]> {
  const res = await runCommand('ip', ['netns', 'list']);
  return res.stdout.split('\n').filter((l) => l.startsWith(`egw-${pid}-`));
}

describe('make demo', () => {
  for (const dataplane of ['iptables', 'nftables']) {
    it(`DEMO_DATAPLANE=${dataplane}: exits 0 and shows node1's address, then the egress IP, then readiness 200`, async () => {
      const res = await runCommand(process.execPath, [DEMO], { env: demoEnv(dataplane), timeoutMs: 80_000 });
      const out = res.stdout;
      assert.equal(res.code, 0, `the demo failed (exit ${res.code}):\n${out}\n${res.stderr}`);
      assert.doesNotMatch(out, /\[FAIL\]/);
      assert.match(out, /^demo: all \d+ checks passed$/m);

      const unsteered = section(out, '2.');
      assert.match(unsteered, SYN_FROM('198.51.100.11'), 'not steered: the SYN leaves with node1’s address');
      assert.doesNotMatch(unsteered, /IP (100\.64\.1\.5|100\.64\.2\.7)\.\d+ >/);

      const steered = section(out, '3.');
      assert.match(steered, SYN_FROM('100.64.2.7'), 'steered: the SYN leaves with the egress IP');
      assert.match(steered, /IP 198\.51\.100\.11\.\d+ > 100\.64\.2\.7\.4790: VXLAN, flags \[I\] \(0x08\), vni 4097\n\s+IP 100\.64\.1\.5\.\d+ > 198\.51\.100\.13\.7777: Flags \[S\]/);

      const health = section(out, '4.');
      assert.match(health, /readiness {3}→ 200\n {4}\{\n {6}"ready": true,/);
      assert.match(health, /^ {4}egress_gateway_programmed_entries\{kind="route"\} 1$/m);

      const kernel = section(out, '5.');
      assert.match(kernel, /^ {4}100\.64\.1\.0\/26 via 198\.51\.100\.11 dev vxlan0 onlink/m);
      assert.match(kernel, dataplane === 'nftables' ? /table inet egress_gateway/ : /-j SNAT --to-source 100\.64\.2\.7 --random-fully/);
      assert.match(section(out, '6.'), /readiness {3}→ 503\n {4}ready: false, failing: drain/);
      assert.match(out, /removed 6 namespaces, the test Felix and its socket$/m);
    });
  }

  it('DEMO_PART=oss: the agents and the gateway on the agent\'s feed; not annotated → node1\'s address, annotated → the egress IP, removed → node1\'s address', async () => {
    const res = await runCommand(process.execPath, [DEMO], { env: demoEnv('iptables', 'oss'), timeoutMs: 90_000 });
    const out = res.stdout;
    assert.equal(res.code, 0, `the demo failed (exit ${res.code}):\n${out}\n${res.stderr}`);
    assert.doesNotMatch(out, /\[FAIL\]/);
    assert.match(out, /^demo: all \d+ checks passed$/m);
    assert.doesNotMatch(out, /\n=== [0-6]\. /, 'only the OSS half');

    const start = section(out, '7.');
    assert.match(start, /NODE_NAME=node1 .*egress-gateway agent &/);
    assert.match(start, /^ {4}100\.64\.1\.0\/26 via 198\.51\.100\.11 dev vxlan0 onlink/m, 'the return path, from the agent\'s feed');
    assert.match(section(out, '8.'), SYN_FROM('198.51.100.11'), 'not annotated: node1’s address');
    const steered = section(out, '9.');
    assert.match(steered, SYN_FROM('100.64.2.7'), 'annotated: the egress IP');
    assert.match(steered, /^ {4}100:\s+from 100\.64\.1\.5 lookup 1000 proto 69/m);
    assert.match(steered, /^ {4}default nhid \d+ via 100\.64\.2\.7 dev egress\.calico proto 69 metric 10 onlink/m);
    assert.match(steered, /shop\/client\s+100\.64\.1\.5\s+namespace\s+egress\/gw-1/);
    const removed = section(out, '10.');
    assert.match(removed, SYN_FROM('198.51.100.11'), 'annotation removed: node1’s address again');
    assert.doesNotMatch(removed, /from 100\.64\.1\.5 lookup/);
    assert.match(out, /removed 8 namespaces, the API stand-in, the agents and their sockets/);
  });

  it('Ctrl-C in the middle: exits 130 and leaves no namespace, process or socket folder behind', async () => {
    const child = spawn(process.execPath, [DEMO], { env: demoEnv('iptables'), stdio: ['ignore', 'pipe', 'pipe'] });
    const pid = child.pid;
    assert.ok(pid, 'the demo started');
    let out = '';
    const labPids: number[] = [];
    child.stdout.setEncoding('utf8');
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      // Interrupt while the daemon runs: the lab, the daemon and the test Felix all exist then.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the demo did not reach step 2 in 30 s:\n${out}`)), 30_000);
        child.stdout.on('data', (c: string) => {
          out += c;
          if (out.includes('\n=== 2.')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const namespaces = await namespacesOf(pid);
      assert.ok(namespaces.length > 0, 'the lab exists while the demo runs');
      for (const ns of namespaces) {
        const pids = await runCommand('ip', ['netns', 'pids', ns]);
        labPids.push(...pids.stdout.split(/\s+/).filter(Boolean).map(Number));
      }
      assert.ok(labPids.length >= 3, `the daemon, servers and tcpdump run in the lab: ${labPids.join(' ')}`);
      child.kill('SIGINT');
      assert.equal(await exited, 130);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      // Only if the demo failed to clean up: its namespaces carry its pid, so they are ours to remove.
      for (const ns of await namespacesOf(pid)) await runCommand('ip', ['netns', 'del', ns]);
    }
    assert.match(out, /demo: SIGINT: tearing down/);
    assert.deepEqual(await namespacesOf(pid), [], 'every namespace of the demo is gone');
    const socketDir = /DAEMON_SOCKET_PATH=(\/\S+)\/socket/.exec(out)?.[1];
    assert.ok(socketDir, `the demo printed its socket path:\n${out}`);
    assert.equal(existsSync(socketDir), false, 'the test Felix’s folder is removed');
    const alive = labPids.filter((p) => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    });
    assert.deepEqual(alive, [], 'every process the demo started in the lab has ended');
    assert.doesNotMatch(out, /\[FAIL\]/, 'nothing after the interrupt is reported as a failure');
  });
});
