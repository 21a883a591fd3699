/**
 * The routes benchmark's PolicySync stand-in (the default; BENCH_FELIX=grpc-js selects felix.ts
 * instead), so that the receive phase measures the daemon rather than the sender. It writes HTTP/2 by hand on the Unix socket: one DATA frame per
 * gRPC message, as grpc-go sends them (its loopy writer makes one frame per message item and does not
 * merge messages), and those frames gathered into 32 KiB socket writes, as grpc-go's transport writes
 * through a 32 KiB buffer (defaultWriteBufSize) that it flushes when it has nothing more queued.
 * The grpc-js stand-in (felix.ts) also sends one frame per message, but the bench process spends
 * ~8 µs of its own CPU per message doing so, on the same two cores as the daemon; with it the
 * daemon's in_sync comes within a millisecond of the stand-in's last write.
 *
 * Only what a server-streaming call needs: SETTINGS (and their ACK), the client's windows (it never
 * sends more than they allow), PING ACKs, response headers, DATA. No trailers: the benchmark stops
 * the daemon, which cancels the call. Messages must fit one frame (16 KiB, HTTP/2's default).
 */
import { existsSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { frameMessage } from '../../src/policysync/grpc-framing';
import { nowMs } from './felix';

const PREFACE_BYTES = 24;
const FRAME_HEADER_BYTES = 9;
const MAX_FRAME_PAYLOAD = 16_384;
const WRITE_BUFFER_BYTES = 32 * 1024;
const DEFAULT_WINDOW = 65_535;

const DATA = 0;
const HEADERS = 1;
const RST_STREAM = 3;
const SETTINGS = 4;
const PING = 6;
const GOAWAY = 7;
const WINDOW_UPDATE = 8;
const FLAG_ACK = 1;
const FLAG_END_STREAM = 1;
const FLAG_END_HEADERS = 4;
const SETTINGS_INITIAL_WINDOW_SIZE = 4;

function frame(type: number, flags: number, stream: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(stream, 5);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** HPACK: ":status: 200" from the static table (index 8), then content-type as a literal without indexing. */
function responseHeaders(): Buffer {
  const name = Buffer.from('content-type');
  const value = Buffer.from('application/grpc');
  return Buffer.concat([Buffer.from([0x88, 0x00, name.length]), name, Buffer.from([value.length]), value]);
}

class Connection {
  private input: Buffer = Buffer.alloc(0);
  private prefaceRead = false;
  private stream = 0;
  private connWindow = DEFAULT_WINDOW;
  private streamWindow = DEFAULT_WINDOW;
  private initialStreamWindow = DEFAULT_WINDOW;
  /** DATA frames not yet written (each one whole frame: header and payload). */
  private queue: Buffer[] = [];
  private next = 0;
  private ended = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly felix: FrameFelix,
  ) {
    socket.write(frame(SETTINGS, 0, 0, new Uint8Array(0)));
    socket.on('data', (d: Buffer) => this.read(d));
    socket.on('error', () => undefined); // the daemon going away is how every run ends
  }

  private read(d: Buffer): void {
    this.input = this.input.length === 0 ? d : Buffer.concat([this.input, d]);
    if (!this.prefaceRead) {
      if (this.input.length < PREFACE_BYTES) return;
      this.input = this.input.subarray(PREFACE_BYTES);
      this.prefaceRead = true;
    }
    while (this.input.length >= FRAME_HEADER_BYTES) {
      const length = this.input.readUIntBE(0, 3);
      if (this.input.length < FRAME_HEADER_BYTES + length) break;
      const type = this.input[3] as number;
      const flags = this.input[4] as number;
      const id = this.input.readUInt32BE(5) & 0x7fffffff;
      const payload = this.input.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
      this.input = this.input.subarray(FRAME_HEADER_BYTES + length);
      this.onFrame(type, flags, id, payload);
    }
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    switch (type) {
      case SETTINGS:
        if ((flags & FLAG_ACK) !== 0) return;
        for (let off = 0; off + 6 <= payload.length; off += 6) {
          if (payload.readUInt16BE(off) !== SETTINGS_INITIAL_WINDOW_SIZE) continue;
          const size = payload.readUInt32BE(off + 2);
          this.streamWindow += size - this.initialStreamWindow; // RFC 9113 6.9.2: applies to open streams too
          this.initialStreamWindow = size;
        }
        this.socket.write(frame(SETTINGS, FLAG_ACK, 0, new Uint8Array(0)));
        this.pump();
        return;
      case PING:
        if ((flags & FLAG_ACK) === 0) this.socket.write(frame(PING, FLAG_ACK, 0, payload));
        return;
      case WINDOW_UPDATE: {
        const increment = payload.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) this.connWindow += increment;
        else if (id === this.stream) this.streamWindow += increment;
        this.pump();
        return;
      }
      case HEADERS:
        if (this.stream === 0) {
          this.stream = id;
          this.streamWindow = this.initialStreamWindow;
        }
        if ((flags & FLAG_END_STREAM) !== 0 && id === this.stream) this.respond();
        return;
      case DATA:
        // The request (a SyncRequest); answered once it is complete, as a handler runs after reading it.
        if ((flags & FLAG_END_STREAM) !== 0 && id === this.stream) this.respond();
        return;
      case RST_STREAM:
      case GOAWAY:
        this.ended = true;
        return;
    }
  }

  private respond(): void {
    if (this.queue.length > 0 || this.ended) return;
    this.felix.streamStarts.push(nowMs());
    this.socket.write(frame(HEADERS, FLAG_END_HEADERS, this.stream, responseHeaders()));
    this.queue = this.felix.framed.map((m) => frame(DATA, 0, this.stream, m));
    this.next = 0;
    this.pump();
  }

  /** Writes as many queued frames as the windows allow, in socket writes of up to 32 KiB. */
  private pump(): void {
    if (this.ended || this.next >= this.queue.length) return;
    let batch: Buffer[] = [];
    let size = 0;
    const flush = (done?: () => void): void => {
      if (batch.length > 0) this.socket.write(batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch), done);
      batch = [];
      size = 0;
    };
    while (this.next < this.queue.length) {
      const f = this.queue[this.next] as Buffer;
      const payload = f.length - FRAME_HEADER_BYTES;
      if (payload > this.connWindow || payload > this.streamWindow) break;
      this.connWindow -= payload;
      this.streamWindow -= payload;
      batch.push(f);
      size += f.length;
      this.next++;
      if (size >= WRITE_BUFFER_BYTES) flush();
    }
    if (this.next < this.queue.length) flush();
    else flush(() => this.felix.snapshotWritten.push(nowMs()));
  }
}

export class FrameFelix {
  readonly streamStarts: number[] = [];
  /** When the last frame of each stream's snapshot was written to the socket. */
  readonly snapshotWritten: number[] = [];
  /** The snapshot's messages in gRPC framing, made before any clock starts. */
  readonly framed: readonly Buffer[];
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;

  private constructor(
    readonly socketPath: string,
    snapshot: readonly Buffer[],
  ) {
    this.framed = snapshot.map((m) => {
      const f = frameMessage(m);
      if (f.length > MAX_FRAME_PAYLOAD) throw new Error(`a ${f.length}-byte message does not fit one DATA frame`);
      return f;
    });
  }

  static async start(socketPath: string, snapshot: readonly Buffer[]): Promise<FrameFelix> {
    const felix = new FrameFelix(socketPath, snapshot);
    if (existsSync(socketPath)) rmSync(socketPath);
    const server = net.createServer((socket) => {
      felix.sockets.add(socket);
      socket.on('close', () => felix.sockets.delete(socket));
      new Connection(socket, felix);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    felix.server = server;
    return felix;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (existsSync(this.socketPath)) rmSync(this.socketPath, { force: true });
  }
}
