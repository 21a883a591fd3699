/**
 * The agent's steering in the lab: the steering harness (steering-harness.ts) running in the client
 * node's namespace, gateway pods set up by `egress-gateway init` with their return path by hand, and
 * the SteeringSpec of the lab's cluster.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { CLIENT_NODE_NAME, waitForOutput, type Lab } from './lab';
import type { FlowReport } from './flow-load';
import type { SpecJson } from './steering-harness';

export type { SpecJson };

export interface HarnessAnswer {
  readonly op: string;
  readonly ok: boolean;
  readonly reason?: string;
  readonly writes?: readonly string[];
  readonly error?: string;
  readonly status?: Record<string, unknown>;
}

export interface SteeringRun {
  readonly child: ChildProcess;
  /** Sets the spec and resolves with the answer to the pass it caused. */
  set(spec: SpecJson): Promise<HarnessAnswer>;
  status(): Promise<HarnessAnswer>;
  /** Resolves with the first unasked pass (kernel notification, resync) that `pred` accepts. */
  nextPass(pred: (a: HarnessAnswer) => boolean, timeoutMs?: number): Promise<HarnessAnswer>;
  /** Everything the harness printed on stderr. */
  stderr(): string;
  stop(): Promise<void>;
}

export function startSteering(lab: Lab, steering: Record<string, unknown> = {}, env: Record<string, string> = {}): SteeringRun {
  const child = lab.spawn(lab.names.node1, [process.execPath, join(__dirname, 'steering-harness.js')], {
    stdin: true,
    env: { HARNESS_STEERING: JSON.stringify(steering), ...env },
  });
  const answers: HarnessAnswer[] = [];
  const waiters: Array<{ pred: (a: HarnessAnswer) => boolean; resolve: (a: HarnessAnswer) => void }> = [];
  let buffer = '';
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout?.on('data', (c: Buffer) => {
    buffer += c.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let a: HarnessAnswer;
      try {
        a = JSON.parse(line) as HarnessAnswer;
      } catch {
        continue;
      }
      const i = waiters.findIndex((w) => w.pred(a));
      if (i >= 0) waiters.splice(i, 1)[0]?.resolve(a);
      else answers.push(a);
    }
  });
  const next = (pred: (a: HarnessAnswer) => boolean, timeoutMs = 15_000, what = 'an answer'): Promise<HarnessAnswer> => {
    const i = answers.findIndex(pred);
    if (i >= 0) return Promise.resolve(answers.splice(i, 1)[0] as HarnessAnswer);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (a: HarnessAnswer) => {
          clearTimeout(timer);
          resolve(a);
        },
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`steering harness: no ${what} within ${timeoutMs} ms; stderr:\n${err}\nunclaimed: ${JSON.stringify(answers)}`));
      }, timeoutMs);
      waiters.push(w);
    });
  };
  const send = (cmd: unknown): void => {
    child.stdin?.write(`${JSON.stringify(cmd)}\n`);
  };
  return {
    child,
    set: (spec) => {
      send({ op: 'set', spec });
      return next((a) => a.op === 'set', 15_000, 'answer to set');
    },
    status: () => {
      send({ op: 'status' });
      return next((a) => a.op === 'status', 5_000, 'status');
    },
    nextPass: (pred, timeoutMs) => next((a) => a.op === 'pass' && pred(a), timeoutMs, 'matching pass'),
    stderr: () => err,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
      send({ op: 'exit' });
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await closed;
      clearTimeout(timer);
    },
  };
}

/** The lab cluster's destinations that stay direct: its pool and its nodes. */
export function labBypass(lab: Lab): string[] {
  return ['100.64.0.0/16', `${lab.addrs.node1}/32`, `${lab.addrs.node2}/32`];
}

export function labSpec(lab: Lab, clients: SpecJson['clients'], bypass = labBypass(lab)): SpecJson {
  return {
    device: { nodeName: CLIENT_NODE_NAME, vni: lab.vxlan.vni, port: lab.vxlan.port, localIp: lab.addrs.node1 },
    clients,
    bypass,
  };
}

/** `egress-gateway init` in each gateway pod of the lab, and its return path to node1 by hand. */
export async function prepareGateways(lab: Lab): Promise<void> {
  const pods: Array<[string, string]> = [[lab.names.gwpod, lab.addrs.gwpod]];
  if (lab.names.gwpod2) pods.push([lab.names.gwpod2, lab.addrs.gwpod2]);
  for (const [ns, addr] of pods) {
    const init = await lab.gateway(['init'], { EGRESS_POD_IP: addr }, ns);
    if (init.code !== 0) throw new Error(`init in ${ns} failed: ${init.stderr}${init.stdout}`);
    await lab.setReturnPathByHand(ns);
  }
}

/** An echo server on ext that tells each client the source address it sees (flow-load serve). */
export async function startFlowServer(lab: Lab, port: string): Promise<ChildProcess> {
  const server = lab.spawn(lab.names.ext, [process.execPath, join(__dirname, 'flow-load.js'), 'serve', port]);
  await waitForOutput(server, new RegExp(`listening ${port}`));
  return server;
}

export interface FlowRun {
  /** Stops the flows and resolves with their report. */
  finish(): Promise<FlowReport>;
}

/** `flows` long-lived connections from `ns` to ext:port, a line every `everyMs`; resolves once all are open. */
export async function startFlows(lab: Lab, ns: string, port: string, flows: number, everyMs: number): Promise<FlowRun> {
  const child = lab.spawn(ns, [process.execPath, join(__dirname, 'flow-load.js'), 'flows', lab.addrs.ext, port, String(flows), String(everyMs)]);
  await waitForOutput(child, /ready \d+/, 15_000);
  return {
    finish: async () => {
      const report = waitForOutput(child, /^\{.*\}$/m, 10_000);
      child.kill('SIGTERM');
      const out = await report;
      const line = out.split('\n').find((l) => l.startsWith('{')) as string;
      return JSON.parse(line) as FlowReport;
    },
  };
}
