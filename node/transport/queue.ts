import { FRAME_BYTES_MAX, FRAME_LENGTH_BYTES } from './frame.js';

/** Frames waiting for one peer. At 64 KiB messages this is 32 MiB, the byte cap binds first. */
export const QUEUE_FRAMES_MAX = 4_096;
/**
 * Bytes waiting for one peer: two maximal frames, so one maximal block always fits behind another.
 * With n peers the worst case is n times this, which is why it is not larger.
 */
export const QUEUE_BYTES_MAX = 2 * (FRAME_LENGTH_BYTES + FRAME_BYTES_MAX);

/**
 * A bounded FIFO of encoded frames. When full it refuses the newest frame (the caller counts the
 * drop): what is already queued keeps its order, and memory stays within both caps however long
 * the peer stops reading.
 */
export class OutboundQueue {
  private items: (Buffer | undefined)[] = [];
  private head = 0;
  private totalBytes = 0;

  constructor(
    readonly framesMax: number = QUEUE_FRAMES_MAX,
    readonly bytesMax: number = QUEUE_BYTES_MAX,
  ) {}

  get frames(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** False, and nothing queued, when the frame would take the queue past either cap. */
  push(frame: Buffer): boolean {
    if (this.frames + 1 > this.framesMax || this.totalBytes + frame.length > this.bytesMax) return false;
    this.items.push(frame);
    this.totalBytes += frame.length;
    return true;
  }

  shift(): Buffer | undefined {
    if (this.head >= this.items.length) return undefined;
    const frame = this.items[this.head];
    this.items[this.head] = undefined;
    this.head += 1;
    // Compact once the consumed prefix dominates, so shifting stays O(1) amortised.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (frame !== undefined) this.totalBytes -= frame.length;
    return frame;
  }

  clear(): number {
    const dropped = this.frames;
    this.items = [];
    this.head = 0;
    this.totalBytes = 0;
    return dropped;
  }
}
