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

/**
 * Calls `onLine` for each line `ip -ts monitor …` prints (TZ=UTC), with iproute2's stamp as epoch
 * milliseconds (microsecond precision) and the rest of the line.
 */
export function readStampedLines(child: ChildProcess, onLine: (at: number, rest: string) => void): void {
  let partial = '';
  child.stdout?.on('data', (c: Buffer) => {
    const lines = (partial + c.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      // [2026-11-24T23:05:43.831974] Deleted 100.65.0.0/28 via 198.51.100.20 dev vxlan0 proto 69 onlink
      const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\] (.*)$/.exec(l);
      if (m) onLine(Date.parse(`${m[1] ?? ''}Z`) + Number(m[2]) / 1000, m[3] ?? '');
    }
  });
}

export class RouteMonitor {
  readonly events: RouteEvent[] = [];
  private constructor(private readonly child: ChildProcess) {
    readStampedLines(child, (at, rest) => {
      const m = /^(Deleted )?(\S+)/.exec(rest);
      if (m) this.events.push({ at, deleted: m[1] !== undefined, dst: m[2] ?? '' });
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

/** `ip -ts monitor nexthop` (started by the caller, TZ=UTC): each group's members as it changed. */
export class GroupMonitor {
  readonly events: Array<{ at: number; id: number; members: number[] }> = [];
  constructor(private readonly child: ChildProcess) {
    readStampedLines(child, (at, rest) => {
      const m = /^id (\d+) group (\S+)/.exec(rest);
      if (m) this.events.push({ at, id: Number(m[1]), members: (m[2] ?? '').split('/').map((x) => Number(x.split(',')[0])) });
    });
  }

  /** The first change after `since` that leaves nexthop `id` out of a group. */
  async without(id: number, since: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find((x) => x.at >= since && !x.members.includes(id));
      if (e) return e.at;
      if (Date.now() > deadline) throw new Error(`nexthop ${id} still in a group after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async stop(): Promise<void> {
    await stopChild(this.child, 'SIGTERM');
  }
}
