import { MESSAGE_BYTES_MAX } from '../protocol/index.js';
import { TransportError } from './errors.js';

/**
 * Wire format of a link, after TLS: `[u32 big-endian length][u8 kind][payload]`, where `length`
 * counts the kind byte and the payload. Every length is checked against a cap before a single
 * payload byte is buffered, so a peer cannot make us allocate more than one capped frame.
 */

export const FRAME_LENGTH_BYTES = 4;
export const FRAME_KIND_BYTES = 1;
export const FRAME_HEADER_BYTES = FRAME_LENGTH_BYTES + FRAME_KIND_BYTES;
/**
 * Largest value of the length field: one message of the protocol's generic cap (a whole block)
 * plus 1 KiB, so a layer above may wrap a maximal block in a small header of its own.
 */
export const FRAME_BYTES_MAX = MESSAGE_BYTES_MAX + 1024;
/** Largest MESSAGE payload: whatever the length field can carry besides the kind byte. */
export const PAYLOAD_BYTES_MAX = FRAME_BYTES_MAX - FRAME_KIND_BYTES;
/** A HELLO is a small JSON object of a version and two names of at most 63 characters each. */
export const HELLO_PAYLOAD_BYTES_MAX = 1024;

export const FrameKind = {
  /** First frame in each direction: who the sender is and which network it belongs to. */
  hello: 1,
  /** Keeps an idle link provably alive; carries nothing. */
  heartbeat: 2,
  /** Opaque bytes for the layer above. */
  message: 3,
  /** The sender is shutting down on purpose: do not treat the close as a failure. */
  goodbye: 4,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export interface Frame {
  readonly kind: FrameKind;
  readonly payload: Buffer;
}

/** The payload cap of each kind; a kind missing here is unknown. */
const PAYLOAD_CAP_BY_KIND: ReadonlyMap<number, number> = new Map<number, number>([
  [FrameKind.hello, HELLO_PAYLOAD_BYTES_MAX],
  [FrameKind.heartbeat, 0],
  [FrameKind.message, PAYLOAD_BYTES_MAX],
  [FrameKind.goodbye, 0],
]);

export function isFrameKind(value: number): value is FrameKind {
  return PAYLOAD_CAP_BY_KIND.has(value);
}

export function frameKindName(kind: FrameKind): string {
  switch (kind) {
    case FrameKind.hello:
      return 'HELLO';
    case FrameKind.heartbeat:
      return 'HEARTBEAT';
    case FrameKind.message:
      return 'MESSAGE';
    case FrameKind.goodbye:
      return 'GOODBYE';
    default: {
      const unreachable: never = kind;
      return String(unreachable);
    }
  }
}

/** One frame, header included. Throws (a programmer error) when the payload exceeds its kind's cap. */
export function encodeFrame(kind: FrameKind, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const cap = PAYLOAD_CAP_BY_KIND.get(kind) ?? 0;
  if (payload.length > cap) {
    throw new TransportError(
      'TRANSPORT_FRAME_OVERSIZED',
      `a ${frameKindName(kind)} payload of ${payload.length} bytes exceeds its cap of ${cap} bytes`,
    );
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(FRAME_KIND_BYTES + payload.length, 0);
  frame.writeUInt8(kind, FRAME_LENGTH_BYTES);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

export interface DecodeResult {
  readonly frames: readonly Frame[];
  /** Set once the stream is known to be bad; the decoder then stays failed and yields nothing more. */
  readonly error: TransportError | undefined;
}

/**
 * Turns a byte stream fed in arbitrary chunks into frames. Pure: no I/O, no timers, so the same
 * object runs under the socket and under fast-check. It never throws on input; a bad stream
 * shows as a typed error in the result, after the frames that preceded the bad one.
 */
export class FrameDecoder {
  private readonly chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private failure: TransportError | undefined;

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.bufferedBytes;
  }

  get error(): TransportError | undefined {
    return this.failure;
  }

  push(chunk: Uint8Array): DecodeResult {
    if (this.failure !== undefined) return { frames: [], error: this.failure };
    if (chunk.length > 0) {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      this.bufferedBytes += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.bufferedBytes < FRAME_LENGTH_BYTES) break;
      const length = this.peek(0, FRAME_LENGTH_BYTES).readUInt32BE(0);
      if (length === 0) return this.fail(frames, 'TRANSPORT_FRAME_EMPTY', 'a frame has length 0');
      if (length > FRAME_BYTES_MAX) {
        return this.fail(
          frames,
          'TRANSPORT_FRAME_OVERSIZED',
          `a frame of ${length} bytes exceeds FRAME_BYTES_MAX (${FRAME_BYTES_MAX} bytes)`,
        );
      }
      if (this.bufferedBytes < FRAME_HEADER_BYTES) break;
      const kind = this.peek(FRAME_LENGTH_BYTES, FRAME_KIND_BYTES).readUInt8(0);
      if (!isFrameKind(kind)) {
        return this.fail(frames, 'TRANSPORT_FRAME_UNKNOWN_KIND', `a frame has unknown kind ${kind}`);
      }
      const payloadBytes = length - FRAME_KIND_BYTES;
      const cap = PAYLOAD_CAP_BY_KIND.get(kind) ?? 0;
      if (payloadBytes > cap) {
        return this.fail(
          frames,
          'TRANSPORT_FRAME_OVERSIZED',
          `a ${frameKindName(kind)} frame carries ${payloadBytes} bytes, more than its cap of ${cap}`,
        );
      }
      if (this.bufferedBytes < FRAME_LENGTH_BYTES + length) break;
      const whole = this.take(FRAME_LENGTH_BYTES + length);
      frames.push({ kind, payload: whole.subarray(FRAME_HEADER_BYTES) });
    }
    return { frames, error: undefined };
  }

  /** The stream has ended: an error if it stopped inside a frame, otherwise undefined. */
  end(): TransportError | undefined {
    if (this.failure !== undefined) return this.failure;
    if (this.bufferedBytes > 0) {
      this.failure = new TransportError(
        'TRANSPORT_FRAME_TRUNCATED',
        `the stream ended inside a frame (${this.bufferedBytes} bytes of it received)`,
      );
      this.release();
    }
    return this.failure;
  }

  private fail(frames: Frame[], code: TransportError['code'], message: string): DecodeResult {
    this.failure = new TransportError(code, message);
    this.release();
    return { frames, error: this.failure };
  }

  private release(): void {
    this.chunks.length = 0;
    this.bufferedBytes = 0;
  }

  /** `length` bytes starting `offset` bytes into the buffered stream; only ever a few header bytes. */
  private peek(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    let written = 0;
    let skip = offset;
    for (const chunk of this.chunks) {
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      written += chunk.copy(out, written, skip, Math.min(chunk.length, skip + length - written));
      skip = 0;
      if (written === length) break;
    }
    return out;
  }

  /** Removes and returns the first `length` buffered bytes, copying only when they span chunks. */
  private take(length: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= length) {
      this.bufferedBytes -= length;
      if (first.length === length) this.chunks.shift();
      else this.chunks[0] = first.subarray(length);
      return first.subarray(0, length);
    }
    const parts: Buffer[] = [];
    let remaining = length;
    while (remaining > 0) {
      const chunk = this.chunks[0];
      if (chunk === undefined) throw new Error('FrameDecoder.take: fewer bytes buffered than counted');
      if (chunk.length <= remaining) {
        parts.push(chunk);
        this.chunks.shift();
        remaining -= chunk.length;
      } else {
        parts.push(chunk.subarray(0, remaining));
        this.chunks[0] = chunk.subarray(remaining);
        remaining = 0;
      }
    }
    this.bufferedBytes -= length;
    return Buffer.concat(parts, length);
  }
}
