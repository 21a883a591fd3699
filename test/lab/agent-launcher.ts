/**
 * `egress-gateway agent` with the real kernel steering and no route feed, for the kernel tests of
 * the agent end to end (its Kubernetes half against the stand-in API, its kernel half in the client
 * node's namespace). The route feed's server (issue #14's PolicySync server) is not wired here: the
 * lab's gateways get their return path by hand. Run inside a namespace with the agent's environment
 * (NODE_NAME, KUBECONFIG, ...); STEERING_OPTIONS may add dataplane options as JSON.
 */
import { runAgentCommand, steeringOptionsFor } from '../../src/agent/command';
import type { SteeringOptions } from '../../src/steering/desired';
import { createKernelSteering } from '../../src/steering/kernel';

const extra = process.env.STEERING_OPTIONS ? (JSON.parse(process.env.STEERING_OPTIONS) as Partial<SteeringOptions>) : {};

runAgentCommand({}, process.env, {
  outputs: (config, deps) => ({
    dataplane: createKernelSteering({ ...steeringOptionsFor(config), ...extra }, deps.logger),
    feed: { start: async () => undefined, close: async () => undefined, replace: () => undefined, inSync: () => undefined },
  }),
}).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`agent-launcher: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
