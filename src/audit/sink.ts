import { closeSync, constants, createWriteStream, openSync, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { ErrorCodes, GatewayError, describeCause } from '../errors';

/**
 * Where audit lines go. `write` never blocks and never throws: it answers whether the line was
 * taken, so the caller counts what was dropped. A slow reader (a full pipe, a slow disk) must not
 * make the gateway buffer without bound, so a sink refuses lines while too much is queued.
 */
export interface AuditSink {
  write(line: string): SinkResult;
  close(): Promise<void>;
}

export type SinkResult = 'written' | 'backpressure' | 'failed';

/** Queued bytes beyond which lines are refused: about three thousand lines. */
export const DEFAULT_MAX_QUEUED_BYTES = 1 << 20;

export class StreamSink implements AuditSink {
  private failed: Error | undefined;

  /**
   * `owned`: close the stream on close (a file); stdout is left open.
   * `onError` hears the first write failure (then every later line counts as failed).
   */
  constructor(
    private readonly stream: Writable,
    private readonly opts: { owned: boolean; maxQueuedBytes?: number; onError?: (err: Error) => void },
  ) {
    stream.on('error', (err: Error) => {
      if (this.failed) return;
      this.failed = err;
      opts.onError?.(err);
    });
  }

  write(line: string): SinkResult {
    if (this.failed) return 'failed';
    if (this.stream.writableLength > (this.opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES)) return 'backpressure';
    this.stream.write(`${line}\n`);
    return 'written';
  }

  close(): Promise<void> {
    if (!this.opts.owned || this.failed) return Promise.resolve();
    return new Promise((resolve) => this.stream.end(() => resolve()));
  }
}

/**
 * Opens the audit file for appending, now, so that a path the gateway cannot write fails `start`
 * with the variable named rather than losing lines later. Created 0640: the log names clients.
 * A symbolic link is refused (O_NOFOLLOW): the daemon runs as root, and a link planted at the path
 * would have it append to any file the link names.
 */
export function openFileSink(path: string, onError?: (err: Error) => void): StreamSink {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640);
  } catch (err) {
    const why =
      (err as NodeJS.ErrnoException).code === 'ELOOP'
        ? 'it is a symbolic link, and the audit log does not follow links (give the path of a file, not of a link)'
        : `cannot open the file for appending: ${describeCause(err)}`;
    throw new GatewayError(ErrorCodes.CONFIG_INVALID, `AUDIT_LOG=${JSON.stringify(path)}: ${why}`, { cause: err });
  }
  let stream: WriteStream;
  try {
    stream = createWriteStream('', { fd, flags: 'a' });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return new StreamSink(stream, { owned: true, ...(onError ? { onError } : {}) });
}

export function stdoutSink(onError?: (err: Error) => void): StreamSink {
  return new StreamSink(process.stdout, { owned: false, ...(onError ? { onError } : {}) });
}

/** The in-memory sink for tests: keeps lines, can refuse them, prints itself. */
export class MemorySink implements AuditSink {
  readonly lines: string[] = [];
  /** Set to make the next writes answer this instead of 'written'. */
  refuse: Exclude<SinkResult, 'written'> | undefined;
  closed = false;

  write(line: string): SinkResult {
    if (this.closed) return 'failed';
    if (this.refuse) return this.refuse;
    this.lines.push(line);
    return 'written';
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  records(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  dump(): string {
    return `${this.lines.join('\n')}${this.lines.length ? '\n' : ''}${this.closed ? '(closed)\n' : ''}`;
  }
}
