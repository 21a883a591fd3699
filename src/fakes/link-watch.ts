import type { LinkCarrier, LinkWatch, LinkWatchHandlers } from '../kernel/ports';

/**
 * The kernel's link table as events, for tests: the test plugs and unplugs cables (`setCarrier`),
 * and the fake reports them the way the netlink watch does (every link once on watch, then each
 * change). `dump()` prints the links and whether someone is watching.
 */
export class FakeLinkWatch implements LinkWatch {
  private readonly links = new Map<string, LinkCarrier>();
  private handlers: LinkWatchHandlers | undefined;
  private closed = false;
  private nextIndex = 1;
  /** Set to make watch() fail, as a kernel refusing the subscription would. */
  watchError: Error | undefined;

  watch(h: LinkWatchHandlers): void {
    if (this.watchError) throw this.watchError;
    if (this.handlers) throw new Error('link watch: already watching');
    this.handlers = h;
    this.closed = false;
    for (const link of this.links.values()) h.onLink(link);
  }

  close(): void {
    this.handlers = undefined;
    this.closed = true;
  }

  /** Adds the link or changes its carrier, and reports it like a kernel event (even when unchanged: the kernel does too). */
  setCarrier(name: string, carrier: boolean): void {
    const index = this.links.get(name)?.index ?? this.nextIndex++;
    const link = { name, index, carrier };
    this.links.set(name, link);
    this.handlers?.onLink(link);
  }

  /** A socket error (e.g. lost events). */
  fail(err: Error): void {
    this.handlers?.onError(err);
  }

  dump(): string {
    const state = this.handlers ? 'watching' : this.closed ? 'closed' : 'idle';
    const lines = [...this.links.values()].sort((a, b) => a.index - b.index).map((l) => `${l.index}: ${l.name} ${l.carrier ? 'LOWER_UP' : 'NO-CARRIER'}`);
    return `state: ${state}\n${lines.join('\n')}\n`;
  }
}
