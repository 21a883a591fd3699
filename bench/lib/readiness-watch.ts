import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { spawnIn, stopChild } from './ns';

export interface StatusChange {
  readonly at: number;
  readonly status: number;
}

/** The poller of poll-readiness.ts running in `ns`, its changes collected as they come. */
export class ReadinessWatch {
  readonly changes: StatusChange[] = [];
  private partial = '';
  private waiters: { status: number; after: number; resolve: (c: StatusChange) => void }[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (c: Buffer) => {
      const lines = (this.partial + c.toString()).split('\n');
      this.partial = lines.pop() ?? '';
      for (const l of lines) {
        if (!l.startsWith('{')) continue;
        const change = JSON.parse(l) as StatusChange;
        this.changes.push(change);
        this.waiters = this.waiters.filter((w) => (change.status === w.status && change.at >= w.after ? (w.resolve(change), false) : true));
      }
    });
  }

  static start(ns: string, url: string, intervalMs = 5): ReadinessWatch {
    return new ReadinessWatch(spawnIn(ns, [process.execPath, join(__dirname, 'poll-readiness.js'), url, String(intervalMs)]));
  }

  /** The first change to `status` at or after `after` (epoch ms). */
  waitFor(status: number, after: number, timeoutMs = 60_000): Promise<StatusChange> {
    const seen = this.changes.find((c) => c.status === status && c.at >= after);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`readiness did not become ${status} within ${timeoutMs} ms; saw ${JSON.stringify(this.changes.slice(-5))}`)), timeoutMs);
      this.waiters.push({ status, after, resolve: (c) => {
          clearTimeout(timer);
          resolve(c);
        },
      });
    });
  }

  async stop(): Promise<void> {
    await stopChild(this.child, 'SIGKILL');
  }
}
