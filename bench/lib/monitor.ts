/**
 * `ip -ts monitor route` in a namespace: when each route appeared in or left the kernel, stamped by
 * iproute2 as it read the notification (so our own reading delay does not count).
 */
import type { ChildProcess } from 'node:child_process';
import { spawnIn, stopChild } from './ns';

export interface RouteEvent {
  /** Epoch milliseconds (microsecond precision). */
  readonly at: number;
  readonly deleted: boolean;
  readonly dst: string;
}

export class RouteMonitor {
  readonly events: RouteEvent[] = [];
  private partial = '';
  private constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (c: Buffer) => {
      const lines = (this.partial + c.toString()).split('\n');
      this.partial = lines.pop() ?? '';
      for (const l of lines) {
        // [2026-11-24T23:05:43.831974] Deleted 100.65.0.0/28 via 198.51.100.20 dev vxlan0 proto 69 onlink
        const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\] (Deleted )?(\S+)/.exec(l);
        if (!m) continue;
        const at = Date.parse(`${m[1] ?? ''}Z`) + Number(m[2]) / 1000;
        this.events.push({ at, deleted: m[3] !== undefined, dst: m[4] ?? '' });
      }
    });
  }

  /** Started, and given a moment to subscribe (it prints nothing until something changes). */
  static async start(ns: string): Promise<RouteMonitor> {
    // TZ=UTC: iproute2 prints local time without a zone.
    const m = new RouteMonitor(spawnIn(ns, ['ip', '-ts', 'monitor', 'route'], { TZ: 'UTC' }));
    await new Promise((r) => setTimeout(r, 300));
    return m;
  }

  async stop(): Promise<void> {
    await stopChild(this.child, 'SIGTERM');
  }
}
