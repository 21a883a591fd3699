import { describeCause, kernelError, type GatewayError } from '../errors';
import type { LinkState, Links, VxlanSpec } from '../kernel/ports';
import type { Clock, TimerHandle } from '../model/clock';
import type { Logger } from '../observability/logger';

/**
 * Watches the VXLAN device init made and puts it back when someone deletes or breaks it.
 *
 * Deleting vxlan0 silently takes every return route, neighbour and FDB entry with it, and the
 * reconciler would only notice at its next full resync. So the guard looks at the device every
 * `intervalMs` (a netlink GET: cheap, and no subscription to lose), and on a problem:
 *   1. reports it at once (readiness turns 503: the kernel no longer holds the return path);
 *   2. re-creates it with init's own `ensureVxlan` and the same spec (the daemon has NET_ADMIN);
 *   3. once it is back, asks for a full resync so the return path is programmed again.
 * A failed repair is logged once per distinct error and retried at the next check, never thrown:
 * a crash loop would take the forwarding of established flows down with it.
 */

export interface VxlanGuardOptions {
  readonly links: Links;
  readonly spec: VxlanSpec;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Time between checks; default 2 s. */
  readonly intervalMs?: number;
  /** The device is wrong (an error) or right again (undefined). Called on changes only. */
  onProblem(problem: GatewayError | undefined): void;
  /** The device was re-created or repaired: the return path on it must be programmed again. */
  onRepaired(): void;
}

export const DEFAULT_VXLAN_CHECK_INTERVAL_MS = 2_000;

/** What is wrong with `link` for `spec`, or undefined when it is what init made. */
export function vxlanDefect(link: LinkState | undefined, spec: VxlanSpec): string | undefined {
  if (!link) return `${spec.name} does not exist`;
  if (link.kind !== 'vxlan' || !link.vxlan) return `${spec.name} is a ${link.kind || 'plain'} device, not vxlan`;
  const v = link.vxlan;
  if (v.vni !== spec.vni) return `${spec.name} has vni ${v.vni}, not ${spec.vni}`;
  if (v.port !== spec.port) return `${spec.name} has dstport ${v.port}, not ${spec.port}`;
  if (spec.local !== undefined && v.local !== spec.local) return `${spec.name} has local ${v.local ?? 'unset'}, not ${spec.local}`;
  if (link.mac !== spec.mac.toLowerCase()) return `${spec.name} has address ${link.mac}, not ${spec.mac}`;
  if (!link.up) return `${spec.name} is down`;
  return undefined;
}

export class VxlanGuard {
  private readonly intervalMs: number;
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private started = false;
  private problem: string | undefined;
  private lastRepairError: string | undefined;
  /** The index of the device last seen healthy: a new index means it was re-created behind our back. */
  private healthyIndex: number | undefined;

  constructor(private readonly opts: VxlanGuardOptions) {
    this.intervalMs = opts.intervalMs ?? DEFAULT_VXLAN_CHECK_INTERVAL_MS;
  }

  start(): void {
    this.started = true;
    this.schedule(this.intervalMs);
  }

  async stop(): Promise<void> {
    this.started = false;
    this.timer?.cancel();
    this.timer = undefined;
    await this.running;
  }

  /** One check (and repair, when needed) now; resolves when done. Never rejects. */
  check(): Promise<void> {
    this.running ??= this.checkOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** The current problem, for status output; undefined while the device is right. */
  get currentProblem(): string | undefined {
    return this.problem;
  }

  private schedule(ms: number): void {
    if (!this.started) return;
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = undefined;
      void this.check().then(() => this.schedule(this.intervalMs));
    }, ms);
  }

  private async checkOnce(): Promise<void> {
    const { spec, links, logger } = this.opts;
    const log = (level: 'info' | 'warn', event: string, fields: Record<string, unknown>, msg: string): void =>
      logger[level]({ component: 'vxlan-guard', event, device: spec.name, ...fields }, msg);
    let link: LinkState | undefined;
    try {
      link = await links.get(spec.name);
    } catch (err) {
      this.report(kernelError(`checking ${spec.name}`, err));
      return;
    }
    const defect = vxlanDefect(link, spec);
    if (!defect) {
      const recreatedElsewhere = this.healthyIndex !== undefined && link && link.index !== this.healthyIndex;
      this.healthyIndex = link?.index;
      if (this.problem !== undefined || recreatedElsewhere) {
        // Someone else (or an earlier repair of ours) put it back: its entries are gone either way.
        log('info', 'vxlan_device_restored', { index: link?.index }, `${spec.name} is back; reprogramming the return path`);
        this.problem = undefined;
        this.lastRepairError = undefined;
        this.opts.onProblem(undefined);
        this.opts.onRepaired();
      }
      return;
    }
    if (this.problem !== defect) {
      log('warn', 'vxlan_device_broken', { defect }, `${defect}: the return path is gone; re-creating it`);
    }
    this.report(kernelError(`checking ${spec.name}`, new Error(defect)), defect);
    try {
      const repaired = await links.ensureVxlan(spec);
      this.healthyIndex = repaired.index;
      log('info', 'vxlan_device_repaired', { index: repaired.index, mtu: repaired.mtu }, `${spec.name} re-created; reprogramming the return path`);
      this.problem = undefined;
      this.lastRepairError = undefined;
      this.opts.onProblem(undefined);
      this.opts.onRepaired();
    } catch (err) {
      const why = describeCause(err);
      if (why !== this.lastRepairError) {
        log('warn', 'vxlan_repair_failed', { err }, `re-creating ${spec.name} failed, retrying in ${this.intervalMs} ms: ${why}`);
      }
      this.lastRepairError = why;
    }
  }

  private report(err: GatewayError, key: string = err.message): void {
    if (this.problem === key) return;
    this.problem = key;
    this.opts.onProblem(err);
  }
}
