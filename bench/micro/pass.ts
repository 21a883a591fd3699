/**
 * Micro-benchmark of the in_sync pass (in_sync → reconciled): the `routes` benchmark's 10k-route
 * snapshot (100 nodes), decoded as the daemon decodes it, fed to a ReturnPathReconciler, and the
 * first pass timed: its wall time and this process's user and system CPU over it (system CPU is
 * mostly the kernel's work on our netlink requests; user CPU is ours, GC and compiler threads
 * included). Not part of `make bench`. Each run is a fresh process (the daemon runs the pass once,
 * cold); alternate two trees' runs, e.g.
 *   for i in $(seq 10); do for t in /old /new; do node $t/dist/bench/micro/pass.js; done; done
 * With the real kernel (the default) it makes a gateway-shaped namespace as the `routes` benchmark
 * does and runs itself there with the launcher's Node flags; MICRO_KERNEL=null uses a kernel that
 * accepts every write at once (no namespace, no root): our code alone.
 * Prints one JSON line.
 */
import { spawn } from 'node:child_process';
import { ReturnPathReconciler, type ReconcileResult } from '../../src/dataplane/reconciler';
import type { BatchErrors, ReturnPathKernel } from '../../src/kernel/return-path';
import { NetlinkReturnPath } from '../../src/kernel/netlink/return-path';
import { NetlinkSession } from '../../src/kernel/netlink/session';
import { parseIp, type Family } from '../../src/model/ip';
import { DecodeCache } from '../../src/policysync/decode';
import { decodeReceived } from '../../src/policysync/decode';
import { decodeToDataplaneBytes } from '../../src/policysync/proto';
import { snapshotMessages, workload } from '../routes';
import { DAEMON_NODE_FLAGS, gatewayNamespace, GATEWAY_IP } from '../lib/ns';

const N = Number(process.env.MICRO_N ?? 10_000);
const nullKernel = process.env.MICRO_KERNEL === 'null';

function nullReturnPath(): ReturnPathKernel {
  const ok = (xs: readonly unknown[]): Promise<BatchErrors> => Promise.resolve(xs.map(() => undefined));
  const port = {
    list: () => Promise.resolve([]),
    upsert: () => Promise.resolve(),
    remove: () => Promise.resolve(),
    upsertMany: ok,
    removeMany: ok,
  };
  // A kernel that holds nothing and forgets every write: its fingerprint never changes.
  return { routes: port, neighbours: port, fdb: port, fingerprint: () => Promise.resolve(''), digest: () => Promise.resolve('') };
}

function cpu(): { user: number; system: number } {
  const u = process.cpuUsage();
  return { user: u.user / 1000, system: u.system / 1000 };
}

async function child(): Promise<void> {
  const gatewayIp = parseIp(GATEWAY_IP);
  if (!gatewayIp) throw new Error(`bad gateway address ${GATEWAY_IP}`);
  const kernel = nullKernel ? nullReturnPath() : new NetlinkReturnPath(new NetlinkSession());
  let t0 = 0;
  let c0 = cpu();
  const done = new Promise<{ result: ReconcileResult; ms: number; user: number; system: number }>((resolve) => {
    const reconciler = new ReturnPathReconciler({
      kernel,
      returnPath: { gatewayIp, gatewayIps: [gatewayIp], vxlanDevice: 'vxlan0', underlayDevice: 'eth0', families: new Set<Family>([4]) },
      onReconciled: (result) => {
        const c = cpu();
        resolve({ result, ms: performance.now() - t0, user: c.user - c0.user, system: c.system - c0.system });
      },
    });
    reconciler.start();
    reconciler.streamStarted();
    const messages = snapshotMessages(workload(N, 100));
    const nodeIps = new DecodeCache();
    // As the daemon gets them: a few messages per event-loop turn, the in_sync last.
    let i = 0;
    const feed = (): void => {
      for (let k = 0; k < 8 && i < messages.length; k++, i++) {
        const event = decodeReceived(decodeToDataplaneBytes(messages[i] as Buffer), nodeIps);
        if (event.kind === 'in_sync') {
          t0 = performance.now();
          c0 = cpu();
        }
        reconciler.apply(event);
      }
      if (i < messages.length) setImmediate(feed);
    };
    feed();
  });
  const r = await done;
  if (!r.result.ok || r.result.operations !== N + 200) throw new Error(`pass: ${JSON.stringify(r.result)}`);
  process.stdout.write(`${JSON.stringify({ n: N, kernel: nullKernel ? 'null' : 'netlink', passMs: +r.ms.toFixed(2), userMs: +r.user.toFixed(1), systemMs: +r.system.toFixed(1) })}\n`);
  // The reconciler keeps its resync timer: leave now.
  process.exit(0);
}

async function main(): Promise<void> {
  if (process.env.MICRO_CHILD === '1' || nullKernel) return child();
  const { ns, close } = await gatewayNamespace();
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const p = spawn('ip', ['netns', 'exec', ns, process.execPath, ...DAEMON_NODE_FLAGS, __filename], {
        env: { ...process.env, MICRO_CHILD: '1' },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      p.once('error', reject);
      p.once('close', resolve);
    });
    if (code !== 0) process.exitCode = 1;
  } finally {
    await close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
