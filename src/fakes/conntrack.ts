import { tupleText, type ConntrackEvent } from '../kernel/netlink/conntrack';
import type { ConntrackEvents, ConntrackHandlers } from '../kernel/netlink/conntrack-events';
import type { ConntrackTable } from '../kernel/netlink/conntrack-table';

/**
 * The in-memory conntrack for tests: the test plays the kernel (`emit`, `overrun`, `table`), and the
 * fake prints what the audit asked of it.
 */
export class FakeConntrackEvents implements ConntrackEvents {
  private handlers: ConntrackHandlers | undefined;
  /** What `list` returns. */
  table: ConntrackEvent[] = [];
  /** Set to make the next dumps fail. */
  dumpError: Error | undefined;
  /** Set to make open fail. */
  openError: Error | undefined;
  dumps = 0;
  private closed = false;

  open(h: ConntrackHandlers): void {
    if (this.openError) throw this.openError;
    this.handlers = h;
  }

  async list(): Promise<ConntrackEvent[]> {
    this.dumps++;
    if (this.dumpError) throw this.dumpError;
    return [...this.table];
  }

  close(): void {
    this.closed = true;
    this.handlers = undefined;
  }

  emit(e: ConntrackEvent): void {
    this.handlers?.onEvent(e);
  }

  malformed(err: Error): void {
    this.handlers?.onMalformed(err);
  }

  overrun(): void {
    this.handlers?.onOverrun();
  }

  /** Subscribed/closed state, dumps served, and the table. */
  dump(): string {
    const state = this.closed ? 'closed' : this.handlers ? 'subscribed' : 'idle';
    return `state: ${state}\ndumps: ${this.dumps}\ntable:\n${this.table.map((e) => tupleText(e.orig)).join('\n')}\n`;
  }
}

/**
 * A conntrack table in memory, for the setup guard's tests: the test fills `table` as the kernel
 * would hold it; `remove` deletes by original tuple and id, as ctnetlink does, and records what it
 * deleted; `dump()` prints both.
 */
export class FakeConntrackTable implements ConntrackTable {
  table: ConntrackEvent[] = [];
  readonly deleted: string[] = [];
  /** Set to make the next list or remove fail. */
  failWith: Error | undefined;
  lists = 0;

  async list(): Promise<ConntrackEvent[]> {
    this.lists++;
    if (this.failWith) throw this.failWith;
    return [...this.table];
  }

  async remove(entries: readonly ConntrackEvent[]): Promise<number> {
    if (this.failWith) throw this.failWith;
    let n = 0;
    for (const e of entries) {
      const i = this.table.findIndex((t) => t.id === e.id && tupleText(t.orig) === tupleText(e.orig));
      if (i < 0) continue; // gone already: ENOENT, not an error
      this.table.splice(i, 1);
      this.deleted.push(tupleText(e.orig));
      n++;
    }
    return n;
  }

  dump(): string {
    return `table:\n${this.table.map((e) => tupleText(e.orig)).join('\n')}\ndeleted:\n${this.deleted.join('\n')}\n`;
  }
}
