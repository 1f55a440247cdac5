import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { TransportError } from './errors.js';
import {
  encodeFrame,
  FRAME_BYTES_MAX,
  FrameDecoder,
  FrameKind,
  HELLO_PAYLOAD_BYTES_MAX,
  PAYLOAD_BYTES_MAX,
} from './frame.js';
import type { Frame } from './frame.js';
import { decodeHello, encodeHello, helloMismatch } from './hello.js';

const kinds = [FrameKind.hello, FrameKind.heartbeat, FrameKind.message, FrameKind.goodbye] as const;

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.constant({ kind: FrameKind.heartbeat, payload: Buffer.alloc(0) }),
  fc.constant({ kind: FrameKind.goodbye, payload: Buffer.alloc(0) }),
  fc
    .uint8Array({ maxLength: HELLO_PAYLOAD_BYTES_MAX })
    .map((bytes) => ({ kind: FrameKind.hello, payload: Buffer.from(bytes) })),
  fc
    .uint8Array({ maxLength: 2048 })
    .map((bytes) => ({ kind: FrameKind.message, payload: Buffer.from(bytes) })),
);

/** Splits `bytes` at the given cut points (any values; taken modulo the length, sorted). */
function chunk(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % (bytes.length + 1))))].sort(
    (a, b) => a - b,
  );
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

function decodeAll(chunks: readonly Uint8Array[]): { frames: Frame[]; error: TransportError | undefined } {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  for (const piece of chunks) {
    const result = decoder.push(piece);
    frames.push(...result.frames);
    if (result.error !== undefined) return { frames, error: result.error };
  }
  return { frames, error: decoder.end() };
}

function header(length: number, kind: number): Buffer {
  const bytes = Buffer.alloc(5);
  bytes.writeUInt32BE(length, 0);
  bytes.writeUInt8(kind, 4);
  return bytes;
}

describe('FrameDecoder', () => {
  it('decodes any chunking of valid frames into the frames that were encoded', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (frames, cuts) => {
          const stream = Buffer.concat(frames.map((f) => encodeFrame(f.kind, f.payload)));
          const decoded = decodeAll(chunk(stream, cuts));
          expect(decoded.error).toBeUndefined();
          expect(decoded.frames.map((f) => ({ kind: f.kind, payload: Buffer.from(f.payload) }))).toEqual(
            frames.map((f) => ({ kind: f.kind, payload: Buffer.from(f.payload) })),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('turns arbitrary bytes into frames or a TransportError, never a throw', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 16 }), (chunks) => {
        const decoded = decodeAll(chunks);
        if (decoded.error !== undefined) {
          expect(decoded.error).toBeInstanceOf(TransportError);
          expect(decoded.error.code).toMatch(/^TRANSPORT_FRAME_/);
        }
        for (const frame of decoded.frames) expect(kinds).toContain(frame.kind);
      }),
      { numRuns: 1000 },
    );
  });

  it('reports valid frames followed by garbage as those frames, then the error', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 5 }), fc.integer({ min: 5, max: 255 }), (frames, kind) => {
        const stream = Buffer.concat([...frames.map((f) => encodeFrame(f.kind, f.payload)), header(1, kind)]);
        const decoded = decodeAll([stream]);
        expect(decoded.frames).toHaveLength(frames.length);
        expect(decoded.error?.code).toBe('TRANSPORT_FRAME_UNKNOWN_KIND');
      }),
    );
  });

  it('refuses a length over FRAME_BYTES_MAX from the length field alone', () => {
    const decoder = new FrameDecoder();
    const lengthOnly = Buffer.alloc(4);
    lengthOnly.writeUInt32BE(FRAME_BYTES_MAX + 1, 0);
    expect(decoder.push(lengthOnly).error?.code).toBe('TRANSPORT_FRAME_OVERSIZED');
    expect(decoder.pendingBytes).toBe(0);
  });

  it('refuses a frame over its kind cap before buffering the payload', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(header(1 + HELLO_PAYLOAD_BYTES_MAX + 1, FrameKind.hello)).error?.code).toBe(
      'TRANSPORT_FRAME_OVERSIZED',
    );
    expect(new FrameDecoder().push(header(2, FrameKind.heartbeat)).error?.code).toBe(
      'TRANSPORT_FRAME_OVERSIZED',
    );
  });

  it('accepts a MESSAGE of exactly PAYLOAD_BYTES_MAX', () => {
    const payload = Buffer.alloc(PAYLOAD_BYTES_MAX, 7);
    const decoded = decodeAll(chunk(encodeFrame(FrameKind.message, payload), [3, 70_000, 9_000_000]));
    expect(decoded.error).toBeUndefined();
    expect(decoded.frames[0]?.payload.equals(payload)).toBe(true);
  });

  it('refuses a zero length', () => {
    expect(new FrameDecoder().push(Buffer.alloc(4)).error?.code).toBe('TRANSPORT_FRAME_EMPTY');
  });

  it('reports a stream that ends inside a frame as truncated', () => {
    const decoder = new FrameDecoder();
    const frame = encodeFrame(FrameKind.message, Buffer.from('hello'));
    expect(decoder.push(frame.subarray(0, frame.length - 1)).frames).toHaveLength(0);
    const error = decoder.end();
    expect(error?.code).toBe('TRANSPORT_FRAME_TRUNCATED');
    expect(error?.message).toContain('ended inside a frame (9 bytes of it received)');
  });

  it('stays failed after an error', () => {
    const decoder = new FrameDecoder();
    decoder.push(header(1, 99));
    const later = decoder.push(encodeFrame(FrameKind.heartbeat));
    expect(later.frames).toHaveLength(0);
    expect(later.error?.code).toBe('TRANSPORT_FRAME_UNKNOWN_KIND');
  });

  it('refuses to encode a payload over its kind cap', () => {
    expect(() => encodeFrame(FrameKind.heartbeat, Buffer.alloc(1))).toThrow(TransportError);
  });
});

describe('HELLO', () => {
  const hello = { version: 1, networkId: 'chainnode', name: 'orderer0' };

  it('round-trips through a frame', () => {
    const decoded = decodeAll([encodeHello(hello)]);
    expect(decodeHello(decoded.frames[0]!.payload)).toEqual(hello);
  });

  it.each([
    ['not JSON', '{'],
    ['not an object', '[1,2,3]'],
    ['a missing field', '{"version":1,"name":"a"}'],
    ['an extra field', '{"version":1,"networkId":"n","name":"a","x":1}'],
    ['an empty name', '{"version":1,"networkId":"n","name":""}'],
    ['a version that is not an integer', '{"version":"1","networkId":"n","name":"a"}'],
  ])('refuses a HELLO that is %s', (_case, text) => {
    expect(() => decodeHello(Buffer.from(text))).toThrow(
      expect.objectContaining({ code: 'TRANSPORT_PROTOCOL' }),
    );
  });

  it('names the mismatching field', () => {
    expect(helloMismatch({ ...hello, networkId: 'other' }, hello)).toContain('network "other"');
    expect(helloMismatch({ ...hello, name: 'orderer9' }, hello)).toContain('orderer9');
    expect(helloMismatch({ ...hello, version: 2 }, hello)).toContain('protocol version 2');
    expect(helloMismatch(hello, hello)).toBeUndefined();
  });
});
