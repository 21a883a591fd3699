import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EncodedSet } from '../../src/policysync/server';
import { BenchFelix } from './felix';
import { benchInitEnv, CLI, DAEMON_NODE_FLAGS, gatewayNamespace, GATEWAY_IP, LogWatch, spawnIn, stopChild } from './ns';

/**
 * `egress-gateway start` in a gateway namespace, reaching Felix at socketPath, with the extra Node flags
 * of BENCH_NODE_FLAGS: the one way every benchmark spawns the daemon.
 */
export function spawnDaemon(ns: string, socketPath: string, env: Record<string, string> = {}): { child: ChildProcess; log: LogWatch } {
  const extraFlags = process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : [];
  const child = spawnIn(ns, [process.execPath, ...DAEMON_NODE_FLAGS, ...extraFlags, CLI, 'start'], {
    EGRESS_POD_IP: GATEWAY_IP,
    DAEMON_SOCKET_PATH: socketPath,
    HEALTH_PORT: '0',
    LOG_SEVERITY: 'info',
    DRAIN_DELAY: '0s',
    ...env,
  });
  return { child, log: new LogWatch(child) };
}

/** A gateway-like namespace with a bench Felix and the daemon, torn down by close(). */
export interface GatewayUnderTest {
  readonly ns: string;
  readonly felix: BenchFelix;
  readonly daemon: ChildProcess;
  readonly log: LogWatch;
  /** When the daemon process was spawned (epoch ms). */
  readonly spawnedAt: number;
  close(): Promise<void>;
}

/** In a namespace `init` readied as a pod's init container does (`initEnv`: BENCH_BACKEND's by default). */
export async function startGateway(
  snapshot: EncodedSet,
  env: Record<string, string> = {},
  prepare?: (ns: string) => Promise<void>,
  initEnv: Record<string, string> = benchInitEnv(),
): Promise<GatewayUnderTest> {
  const { ns, close: closeNs } = await gatewayNamespace({ init: initEnv });
  const dir = mkdtempSync(join(tmpdir(), 'egwb-'));
  let felix: BenchFelix | undefined;
  let daemon: ChildProcess | undefined;
  const close = async (): Promise<void> => {
    if (daemon) await stopChild(daemon, 'SIGTERM');
    await felix?.stop();
    rmSync(dir, { recursive: true, force: true });
    await closeNs();
  };
  try {
    if (prepare) await prepare(ns);
    const socketPath = join(dir, 'felix.sock');
    felix = await BenchFelix.start(socketPath, snapshot);
    const spawnedAt = performance.timeOrigin + performance.now();
    const started = spawnDaemon(ns, socketPath, env);
    daemon = started.child;
    return { ns, felix, daemon, log: started.log, spawnedAt, close };
  } catch (err) {
    await close();
    throw err;
  }
}
