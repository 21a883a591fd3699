import { tupleText, type ConntrackEvent } from '../kernel/netlink/conntrack';
import type { ConntrackEvents, ConntrackHandlers } from '../kernel/netlink/conntrack-events';

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
