import type { ReturnPathWatch, ReturnPathWatchHandlers } from '../kernel/ports';

/**
 * Kernel notifications about the return path, for tests: the test reports what "the kernel" saw
 * change (`report`), and the fake logs what the gateway asked of it (watch, pause, resume, close).
 */
export class FakeReturnPathWatch implements ReturnPathWatch {
  private handlers: ReturnPathWatchHandlers | undefined;
  private paused = false;
  readonly log: string[] = [];

  watch(device: string, h: ReturnPathWatchHandlers): void {
    this.handlers = h;
    this.log.push(`watch ${device}`);
  }

  pause(): void {
    this.paused = true;
    this.log.push('pause');
  }

  resume(): void {
    this.paused = false;
    this.log.push('resume');
  }

  close(): void {
    this.handlers = undefined;
    this.log.push('close');
  }

  /** The kernel reports a change; a paused watch hears nothing, as a socket out of the group. */
  report(what: string): void {
    if (!this.paused) this.handlers?.onChange(what);
  }

  dump(): string {
    return `${this.log.join('\n')}\n`;
  }
}
