import { describeCause, kernelError, type GatewayError } from '../errors';
import type { LinkWatch, Links } from '../kernel/ports';
import type { LinkState, VxlanSpec } from '../model/link';
import { vxlanDefect } from '../model/vxlan';
import type { Clock, TimerHandle } from '../model/clock';
import type { Logger } from '../observability/logger';

/**
 * Watches the VXLAN device init made and puts it back when someone deletes or breaks it.
 *
 * Deleting vxlan0 silently takes every return route, neighbour and FDB entry with it, and the
 * reconciler would only notice at its next full resync. So the guard looks at the device whenever
 * the kernel reports a change to it (link notifications, `watch`: no polling; a lost notification
 * makes it look too), and every `intervalMs` as a backstop; on a problem:
 *   1. reports it at once (readiness turns 503: the kernel no longer holds the return path);
 *   2. re-creates it with init's own `ensureVxlan` and the same spec (the daemon has NET_ADMIN);
 *   3. re-applies init's settings for the device (its rp_filter), then asks for a full resync so
 *      the return path is programmed again; readiness turns 200 once that pass succeeds.
 * A failed repair is logged once per distinct error and retried at the next check, never thrown:
 * a crash loop would take the forwarding of established flows down with it.
 */

export interface VxlanGuardOptions {
  readonly links: Links;
  readonly spec: VxlanSpec;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Link notifications: the guard checks when one names the device. Without them it polls. */
  readonly watch?: LinkWatch;
  /** Time between checks; default 60 s with `watch` (a backstop), 2 s without. */
  readonly intervalMs?: number;
  /** The device is wrong (an error) or right again (undefined). Called on changes only. */
  onProblem(problem: GatewayError | undefined): void;
  /** The device was re-created or repaired: the return path on it must be programmed again. */
  onRepaired(): void;
  /**
   * Re-applies init's per-device settings (vxlan0's rp_filter) after a re-creation: a new device
   * takes the namespace defaults, which may be strict reverse-path filtering.
   */
  reassertSettings?(): Promise<void>;
}

export const DEFAULT_VXLAN_CHECK_INTERVAL_MS = 2_000;
/** With link notifications the periodic check is only a backstop. */
export const DEFAULT_VXLAN_BACKSTOP_MS = 60_000;

// vxlan0 and its own settings exactly as init makes them: one definition, in ../model/vxlan.ts.

export class VxlanGuard {
  private readonly intervalMs: number;
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private again: Promise<void> | undefined;
  private started = false;
  private problem: string | undefined;
  private lastRepairError: string | undefined;
  /** The index of the device last seen healthy: a new index means it was re-created behind our back. */
  private healthyIndex: number | undefined;
  private settingsPending = false;

  constructor(private readonly opts: VxlanGuardOptions) {
    this.intervalMs = opts.intervalMs ?? (opts.watch ? DEFAULT_VXLAN_BACKSTOP_MS : DEFAULT_VXLAN_CHECK_INTERVAL_MS);
  }

  /**
   * Checks (and repairs) once now, then every `intervalMs`. The daemon awaits this before it opens
   * the PolicySync stream: a device that is wrong at start-up is re-created before any entry is
   * written onto it. A first check `intervalMs` later landed in the middle of the first pass of a
   * large snapshot, and re-creating the device there wiped the routes already written and failed
   * the rest with ENODEV (they carried the old device's index).
   */
  async start(): Promise<void> {
    this.started = true;
    await this.check();
    this.opts.watch?.watch({
      // The device by name, or by the index it had (a rename): any change may be a defect.
      onLink: (link) => {
        if (this.started && (link.name === this.opts.spec.name || link.index === this.healthyIndex)) void this.check();
      },
      // Events were lost: one of them may have been about the device.
      onError: () => {
        if (this.started) void this.check();
      },
    });
    this.schedule(this.intervalMs);
  }

  async stop(): Promise<void> {
    this.started = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.opts.watch?.close();
    await this.running;
    await this.again;
  }

  /**
   * One check (and repair, when needed) now; resolves when done. Never rejects. A check asked for
   * while one runs runs again after it: the event may have come after the running one looked.
   */
  check(): Promise<void> {
    if (this.running) {
      this.again ??= this.running.then(() => {
        this.again = undefined;
        return this.check();
      });
      return this.again;
    }
    this.running = this.checkOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** The device as the guard keeps it. */
  get spec(): VxlanSpec {
    return this.opts.spec;
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
    if (defect) {
      if (this.problem !== defect) {
        log('warn', 'vxlan_device_broken', { defect }, `${defect}: the return path is gone; re-creating it`);
      }
      this.report(kernelError(`checking ${spec.name}`, new Error(defect)), defect);
      try {
        link = await links.ensureVxlan(spec);
      } catch (err) {
        this.repairFailed(`re-creating ${spec.name}`, err);
        return;
      }
      log('info', 'vxlan_device_repaired', { index: link.index, mtu: link.mtu }, `${spec.name} re-created`);
      this.settingsPending = true;
    } else if (this.healthyIndex !== undefined && link && link.index !== this.healthyIndex) {
      // Someone else deleted and re-created it between two checks: its entries and settings are gone all the same.
      log('warn', 'vxlan_device_replaced', { index: link.index }, `${spec.name} was re-created by someone else`);
      this.settingsPending = true;
      this.problem ??= 'replaced';
    }
    if (this.settingsPending && this.opts.reassertSettings) {
      try {
        await this.opts.reassertSettings();
      } catch (err) {
        this.report(kernelError(`restoring the settings of ${spec.name}`, err), 'settings');
        this.repairFailed(`restoring the settings of ${spec.name}`, err);
        return;
      }
    }
    this.settingsPending = false;
    this.healthyIndex = link?.index;
    if (this.problem !== undefined) {
      log('info', 'vxlan_device_restored', { index: link?.index }, `${spec.name} is back; reprogramming the return path`);
      this.problem = undefined;
      this.lastRepairError = undefined;
      this.opts.onProblem(undefined);
      this.opts.onRepaired();
    }
  }

  private repairFailed(doing: string, err: unknown): void {
    const why = describeCause(err);
    if (why !== this.lastRepairError) {
      this.opts.logger.warn(
        { component: 'vxlan-guard', event: 'vxlan_repair_failed', device: this.opts.spec.name, err },
        `${doing} failed, retrying in ${this.intervalMs} ms: ${why}`,
      );
    }
    this.lastRepairError = why;
  }

  private report(err: GatewayError, key: string = err.message): void {
    if (this.problem === key) return;
    this.problem = key;
    this.opts.onProblem(err);
  }
}
