/**
 * The steering reconciler alone, driven by SteeringSpecs: the kernel tests start it in the client
 * node's namespace (`ip netns exec node1 node steering-harness.js`), write one JSON command a line
 * on stdin and read one JSON line per answer on stdout. It is the agent's kernel half without its
 * Kubernetes half: the real adapters, the real reconciler, notifications and resyncs included.
 *
 *   {"op":"set","spec":{...}}  → {"op":"set","ok":true,"writes":[...]}   (after the pass it caused)
 *   {"op":"status"}            → {"op":"status","status":{...}}
 *   {"op":"exit"}              → stops (the kernel state stays)
 * Passes the harness did not ask for (kernel notifications, resyncs) are printed as
 * {"op":"pass","reason":...,"ok":...,"writes":[...]}.
 */
import { createInterface } from 'node:readline';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../../src/model/ip';
import { steeringGateway, type SteeringGateway, type SteeringSpec } from '../../src/model/steering';
import { createSteeringKernel } from '../../src/steering/kernel';
import { SteeringReconciler, type SteeringResult } from '../../src/steering/reconciler';
import type { SteeringOptions } from '../../src/steering/desired';

export interface SpecJson {
  readonly device: { readonly nodeName: string; readonly vni: number; readonly port: number; readonly localIp: string };
  /** Gateways as specs print them (gatewayFromText). */
  readonly clients: ReadonlyArray<{ readonly pod: string; readonly ips: readonly string[]; readonly gateways: readonly string[] }>;
  readonly bypass?: readonly string[];
}

export type HarnessCommand =
  | { readonly op: 'set'; readonly spec: SpecJson }
  | { readonly op: 'status' }
  | { readonly op: 'exit' };

function ip(text: string): IpAddress {
  const a = parseIp(text);
  if (!a) throw new Error(`not an IP address: ${text}`);
  return a;
}

function cidr(text: string): Cidr {
  const c = parseCidr(text);
  if (!c) throw new Error(`not a CIDR: ${text}`);
  return c;
}

/** A gateway as specs print it: "100.64.2.7", or "100.64.2.7+2001:db8:64:2::7" with its IPv6 address. */
export function gatewayFromText(text: string): SteeringGateway {
  const g = steeringGateway(text.split('+').map(ip));
  if (!g) throw new Error(`not a gateway: ${text}`);
  return g;
}

export function specFromJson(j: SpecJson): SteeringSpec {
  return {
    device: { nodeName: j.device.nodeName, vni: j.device.vni, port: j.device.port, localIp: ip(j.device.localIp) },
    clients: j.clients.map((c) => ({ pod: c.pod, ips: c.ips.map(ip), gateways: c.gateways.map(gatewayFromText) })),
    ...(j.bypass ? { bypass: j.bypass.map(cidr) } : {}),
  };
}

function print(o: unknown): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function resultJson(r: SteeringResult | undefined): Record<string, unknown> {
  if (!r) return { ok: false, error: 'no spec yet' };
  return { ok: r.ok, reason: r.reason, writes: r.writes, ...(r.error ? { error: r.error.message } : {}) };
}

async function main(): Promise<void> {
  const steering: Partial<SteeringOptions> = process.env.HARNESS_STEERING ? (JSON.parse(process.env.HARNESS_STEERING) as Partial<SteeringOptions>) : {};
  const kernel = createSteeringKernel();
  let asked = false;
  const reconciler = new SteeringReconciler({
    kernel,
    steering,
    resyncIntervalMs: Number(process.env.HARNESS_RESYNC_MS ?? 10_000),
    onReconciled: (r) => {
      if (!asked) print({ op: 'pass', ...resultJson(r) });
    },
  });
  reconciler.start();
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let cmd: HarnessCommand;
    try {
      cmd = JSON.parse(line) as HarnessCommand;
    } catch (err) {
      print({ op: 'error', error: String(err) });
      continue;
    }
    try {
      if (cmd.op === 'exit') break;
      if (cmd.op === 'status') print({ op: 'status', status: reconciler.status() });
      if (cmd.op === 'set') {
        asked = true;
        reconciler.set(specFromJson(cmd.spec));
        const r = await reconciler.reconcileNow('harness');
        asked = false;
        print({ op: 'set', ...resultJson(r) });
      }
    } catch (err) {
      asked = false;
      print({ op: cmd.op, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  }
  await reconciler.stop();
  kernel.close();
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
