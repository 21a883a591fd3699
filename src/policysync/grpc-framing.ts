/**
 * gRPC's message framing over an HTTP/2 byte stream, in both directions: each message is a 1-byte
 * compressed flag, a 4-byte big-endian length and that many bytes. Pure: no I/O, no timers, so every
 * way a message can be cut across DATA chunks is testable without a server.
 */

/** gRPC's default receive limit; a message above it fails the call (RESOURCE_EXHAUSTED in gRPC terms). */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

const PREFIX_BYTES = 5;

/** One message in the gRPC length-prefixed form, uncompressed. */
export function frameMessage(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, PREFIX_BYTES);
  return out;
}

/** Why the byte stream cannot be read on; the call must fail with it. */
export class FramingError extends Error {
  constructor(
    /** The gRPC status name this failure corresponds to (RESOURCE_EXHAUSTED, INTERNAL). */
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Cuts a stream of DATA chunks into messages. A message that lies inside one chunk is handed on as
 * a view into that chunk (no copy); only one that spans chunks is assembled into its own buffer.
 * Either way the bytes are only valid during the `onMessage` call: the consumer must decode them
 * there and keep nothing that points into them.
 */
export class MessageReader {
  /** The prefix of the message being read, while it is split across chunks. */
  private readonly prefix = Buffer.alloc(PREFIX_BYTES);
  private prefixHave = 0;
  /** The body being assembled across chunks, and how much of it has arrived. */
  private body: Buffer | undefined;
  private bodyHave = 0;
  private stopped = false;

  constructor(
    private readonly onMessage: (bytes: Buffer) => void,
    private readonly maxMessageBytes: number = DEFAULT_MAX_MESSAGE_BYTES,
  ) {}

  /**
   * Reads one chunk; throws FramingError when the stream is broken (the reader is then unusable).
   * Stops between messages as soon as `stop()` is called, even from inside `onMessage`.
   */
  push(chunk: Buffer): void {
    let off = 0;
    const end = chunk.length;
    while (off < end && !this.stopped) {
      if (this.body) {
        const take = Math.min(this.body.length - this.bodyHave, end - off);
        chunk.copy(this.body, this.bodyHave, off, off + take);
        this.bodyHave += take;
        off += take;
        if (this.bodyHave === this.body.length) {
          const body = this.body;
          this.body = undefined;
          this.onMessage(body);
        }
        continue;
      }
      let length: number;
      if (this.prefixHave === 0 && end - off >= PREFIX_BYTES) {
        // The common case: the whole prefix is in this chunk.
        this.checkFlag(chunk[off]!);
        length = chunk.readUInt32BE(off + 1);
        off += PREFIX_BYTES;
      } else {
        const take = Math.min(PREFIX_BYTES - this.prefixHave, end - off);
        chunk.copy(this.prefix, this.prefixHave, off, off + take);
        this.prefixHave += take;
        off += take;
        if (this.prefixHave < PREFIX_BYTES) break;
        this.prefixHave = 0;
        this.checkFlag(this.prefix[0]!);
        length = this.prefix.readUInt32BE(1);
      }
      if (length > this.maxMessageBytes) {
        this.stopped = true;
        throw new FramingError(
          'RESOURCE_EXHAUSTED',
          `received a message of ${length} bytes, more than the limit of ${this.maxMessageBytes}`,
        );
      }
      if (end - off >= length) {
        const view = chunk.subarray(off, off + length);
        off += length;
        this.onMessage(view);
      } else {
        this.body = Buffer.allocUnsafe(length);
        this.bodyHave = 0;
      }
    }
  }

  /** True when the stream stopped between messages (a clean end is only allowed then). */
  get atBoundary(): boolean {
    return this.prefixHave === 0 && this.body === undefined;
  }

  /** A description of the partial message, for an error when the stream ends inside one. */
  describePartial(): string {
    if (this.body) return `${this.bodyHave} of a ${this.body.length}-byte message`;
    return `${this.prefixHave} of a message's ${PREFIX_BYTES} prefix bytes`;
  }

  stop(): void {
    this.stopped = true;
  }

  private checkFlag(flag: number): void {
    if (flag === 0) return;
    this.stopped = true;
    // We never offer an encoding (no grpc-accept-encoding), so a compressed message breaks the protocol.
    if (flag === 1) throw new FramingError('INTERNAL', 'received a compressed message, but no compression was negotiated');
    throw new FramingError('INTERNAL', `received a message with an invalid compressed flag ${flag}`);
  }
}
