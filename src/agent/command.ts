import { existsSync, lstatSync, rmSync } from 'node:fs';
import { parseAgentConfig, parseAgentTeardownConfig, type AgentConfig, type AgentFlags } from '../config/agent-config';
import { describeCause } from '../errors';
import { startHealthServer, type HealthServer } from '../health/server';
import { runDaemon, type RunOptions } from '../daemon';
import { systemClock, type Clock } from '../model/clock';
import { createLogger, type Logger } from '../observability/logger';
import { PolicySyncServer } from '../policysync/server';
import { startStatusServer, type StatusServer } from '../status/server';
import type { SteeringOptions } from '../steering/desired';
import { createKernelSteering, teardownKernelSteering } from '../steering/kernel';
import type { SteeringResult } from '../steering/reconciler';
import { VERSION } from '../version';
import { Pinger } from '../health/icmp';
import { RawIcmpSocket } from '../health/raw-icmp-socket';
import { Agent } from './agent';
import type { EchoPort } from './gateway-health/echo';
import { kubeWatchFactory, type WatchFactory } from './kube/sources';
import { createAgentMetrics } from './metrics';
import type { RouteFeedServer, SteeringDataplane } from './ports';
import { buildAgentStatus } from './status';

export type { AgentFlags } from '../config/agent-config';

/** The agent's two outputs; the real ones come from the modules that program the kernel and serve PolicySync. */
export interface AgentOutputs {
  readonly dataplane: SteeringDataplane;
  readonly feed: RouteFeedServer;
}

export interface AgentCommandDeps {
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly watches?: WatchFactory;
  readonly outputs?: (config: AgentConfig, deps: { clock: Clock; logger: Logger }) => AgentOutputs;
  /** The ICMP echo to gateway pods; default: a raw socket when AGENT_GATEWAY_ECHO_INTERVAL is not 0. */
  readonly echo?: EchoPort;
}

/**
 * The gateways' ICMP echo over a raw socket (CAP_NET_RAW; the chart gives the agent that). Without
 * one the agent runs on: the streams' heartbeat stands in for the echo, and the log says so once.
 */
function rawEcho(config: AgentConfig, logger: Logger): { port?: EchoPort; close(): void } {
  if (config.gatewaySignals.echoIntervalMs === 0) return { close: () => undefined };
  const socket = new RawIcmpSocket(logger);
  try {
    socket.open(4);
  } catch (err) {
    logger.warn(
      { component: 'gateway-health', event: 'echo_unavailable', err },
      `no ICMP echo to the gateways (${describeCause(err)}): a gateway cut off is found by the stream's heartbeat instead`,
    );
    return { close: () => undefined };
  }
  return { port: new Pinger(socket), close: () => socket.close() };
}

/**
 * The kernel steering's options from the agent's settings: its tables, its rules' priority, the
 * flow pins' mark bits (issue #16; AGENT_FLOW_MARK_MASK=0: no pinning) and the node's multipath
 * hashing (AGENT_MULTIPATH_HASH).
 */
export function steeringOptionsFor(config: Pick<AgentConfig, 'routeTables' | 'rulePriority' | 'multipathHash'> & Partial<Pick<AgentConfig, 'flowMarkMask'>>): Partial<SteeringOptions> {
  return {
    tables: config.routeTables,
    rulePriority: config.rulePriority,
    ...(config.flowMarkMask ? { flowMark: { mask: config.flowMarkMask } } : {}),
    ...(config.multipathHash ? { multipathHash: config.multipathHash } : {}),
  };
}

/**
 * The real outputs: the client node's kernel steering (src/steering/) and the PolicySync server
 * (src/policysync/server.ts) on the host socket the gateways of this node mount.
 */
export function realOutputs(config: AgentConfig, deps: { clock: Clock; logger: Logger }): AgentOutputs {
  return {
    dataplane: createKernelSteering(steeringOptionsFor(config), deps.logger),
    feed: new PolicySyncServer({ socketPath: config.policysyncSocket, logger: deps.logger }),
  };
}

/**
 * `egress-gateway agent`: one lifecycle, like the gateway daemon's. Start order: status socket (so
 * `status` answers from the first moment), the agent (route feed server, gateway health, watches),
 * then the health port; stop in reverse. SIGTERM/SIGINT stop it (no drain: the kernel state stays,
 * so steered pods keep their gateways while the agent restarts); a second signal exits at once.
 */
export class AgentProcess {
  readonly agent: Agent;
  private health: HealthServer | undefined;
  private status: StatusServer | undefined;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly metrics = createAgentMetrics();
  private readonly echo: { port?: EchoPort; close(): void };

  constructor(
    readonly config: AgentConfig,
    watches: WatchFactory,
    outputs: AgentOutputs,
    deps: { clock: Clock; logger: Logger; echo?: EchoPort },
  ) {
    this.clock = deps.clock;
    this.log = deps.logger;
    this.echo = deps.echo ? { port: deps.echo, close: () => undefined } : rawEcho(config, this.log);
    const echo = this.echo.port;
    this.agent = new Agent(config, { clock: this.clock, logger: this.log, metrics: this.metrics, watches, dataplane: outputs.dataplane, feed: outputs.feed, ...(echo ? { echo } : {}) });
  }

  get healthPort(): number | undefined {
    return this.health?.port;
  }

  statusDocument(): ReturnType<typeof buildAgentStatus> {
    const readiness = this.agent.readiness();
    this.metrics.ready.set(readiness.ready ? 1 : 0);
    return buildAgentStatus({
      version: VERSION,
      pid: process.pid,
      wallNow: Date.now(),
      clockNow: this.clock.now(),
      uptimeMs: this.clock.now() - this.agent.startedAt,
      config: this.config,
      readiness,
      snapshot: this.agent.snapshot(),
    });
  }

  async start(): Promise<'started' | 'stopped'> {
    try {
      this.status = await startStatusServer(this.config.statusSocket, { status: () => this.statusDocument(), logger: this.log });
    } catch (err) {
      this.log.warn({ component: 'status', event: 'status_server_failed', err }, `${describeCause(err)}; \`egress-gateway status\` cannot reach this agent`);
    }
    const outcome = await this.agent.start();
    if (outcome === 'stopped') return outcome;
    if (this.config.healthPort !== 0) {
      this.health = await startHealthServer(
        { port: this.config.healthPort, host: '0.0.0.0' },
        {
          readiness: {
            report: () => {
              const r = this.agent.readiness();
              this.metrics.ready.set(r.ready ? 1 : 0);
              return r;
            },
          },
          metrics: this.metrics,
          clock: this.clock,
          logger: this.log,
          liveness: () => (this.agent.state === 'running' ? { alive: true } : { alive: false, reason: `the agent is ${this.agent.state}` }),
        },
      );
    }
    return 'started';
  }

  /** Same name as the daemon's, for runDaemon: the agent has nothing to drain. */
  async drain(): Promise<void> {
    await this.health?.close();
    await this.agent.stop();
    this.echo.close();
    await this.status?.close();
  }
}

export async function runAgentCommand(flags: AgentFlags, env: NodeJS.ProcessEnv, deps: AgentCommandDeps = {}, options: RunOptions = {}): Promise<number> {
  if (flags.teardown) return runAgentTeardown(flags, env, deps);
  const config = parseAgentConfig(env, flags);
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? createLogger(config.logLevel);
  const watches = deps.watches ?? (await kubeWatchFactory(config.kubeconfig, { clock, logger }));
  const outputs = (deps.outputs ?? realOutputs)(config, { clock, logger });
  return runDaemon(new AgentProcess(config, watches, outputs, { clock, logger, ...(deps.echo ? { echo: deps.echo } : {}) }), options);
}

export interface AgentTeardownDeps {
  readonly logger?: Logger;
  /** The steering to tear down (the real kernel's by default). */
  readonly teardown?: (options: Partial<SteeringOptions>, logger: Logger) => Promise<SteeringResult>;
}

/**
 * `egress-gateway agent --teardown`, the uninstall step: removes everything the agent owns on this
 * node (its rules, route tables, nexthops, neighbour and FDB entries, the NAT exemption,
 * egress.calico) and the route feed's socket file, then exits: 0 when all of it is gone, 1 when
 * something could not be removed (say what; running it again retries). It reads no Kubernetes
 * object, so it needs only the settings that say what is the agent's: AGENT_ROUTE_TABLES and
 * AGENT_RULE_PRIORITY as the agent ran with them, AGENT_POLICYSYNC_SOCKET. Run it on a node whose
 * agent has stopped: a running agent would program its steering again.
 */
export async function runAgentTeardown(flags: AgentFlags, env: NodeJS.ProcessEnv, deps: AgentTeardownDeps = {}): Promise<number> {
  const config = parseAgentTeardownConfig(env, flags);
  const logger = deps.logger ?? createLogger(config.logLevel);
  const result = await (deps.teardown ?? teardownKernelSteering)(steeringOptionsFor(config), logger);
  const removed = [...result.writes];
  let socketError: string | undefined;
  try {
    // Only a socket: the path comes from the environment, and a file of another kind is not ours.
    if (existsSync(config.policysyncSocket) && lstatSync(config.policysyncSocket).isSocket()) {
      rmSync(config.policysyncSocket, { force: true });
      removed.push(`delete socket ${config.policysyncSocket}`);
    }
  } catch (err) {
    socketError = `removing ${config.policysyncSocket}: ${describeCause(err)}`;
  }
  if (result.ok && !socketError) {
    const msg = removed.length ? `teardown: removed everything the agent owned on this node (${removed.length} changes)` : 'teardown: the agent owned nothing on this node';
    logger.info({ component: 'agent', event: 'teardown_done', removed }, msg);
    return 0;
  }
  const why = [result.error?.message, socketError].filter(Boolean).join('; ');
  logger.error({ component: 'agent', event: 'teardown_failed', removed, error: why }, `teardown incomplete: ${why}; run it again`);
  return 1;
}
