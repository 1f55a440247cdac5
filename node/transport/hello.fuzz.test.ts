import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { jsonText, junkBytesArb, mutate, mutationArb } from '../../test/fuzz/arbitraries.js';
import { NAME_CHARS_MAX } from '../protocol/index.js';
import { TransportError } from './errors.js';
import { FrameDecoder, FrameKind, HELLO_PAYLOAD_BYTES_MAX } from './frame.js';
import { decodeHello, encodeHello, type Hello } from './hello.js';

// frame.test.ts fuzzes the frame layer and lists HELLO refusals case by case; this fuzzes the
// HELLO payload decoder, the first thing a connecting stranger's bytes reach after TLS.

const nameArb = fc
  .string({ unit: 'binary', minLength: 1, maxLength: NAME_CHARS_MAX })
  .filter((s) => s.length <= NAME_CHARS_MAX);
const helloArb: fc.Arbitrary<Hello> = fc.record({
  version: fc.oneof(fc.integer(), fc.constantFrom(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER)),
  networkId: nameArb,
  name: nameArb,
});

function decodedOrRefused(payload: Buffer): Hello | TransportError {
  try {
    return decodeHello(payload);
  } catch (e) {
    if (!(e instanceof TransportError)) throw e;
    return e;
  }
}

describe('HELLO decoder (fuzz)', () => {
  it('round-trips every well-formed HELLO through a frame', () => {
    fc.assert(
      fc.property(helloArb, (hello) => {
        const { frames, error } = new FrameDecoder().push(encodeHello(hello));
        expect(error).toBeUndefined();
        expect(frames).toHaveLength(1);
        expect(frames[0]?.kind).toBe(FrameKind.hello);
        expect(decodeHello(frames[0]!.payload)).toEqual(hello);
      }),
      { numRuns: 200 },
    );
  });

  it('gives a HELLO of the documented shape or TRANSPORT_PROTOCOL naming HELLO, for any payload', () => {
    const payloadArb = fc.oneof(
      junkBytesArb.map((b) => Buffer.from(b)),
      fc.tuple(helloArb, mutationArb).map(([hello, m]) => Buffer.from(jsonText(mutate(hello, m).doc))),
      fc
        .uint8Array({ minLength: HELLO_PAYLOAD_BYTES_MAX + 1, maxLength: HELLO_PAYLOAD_BYTES_MAX + 8 })
        .map((b) => Buffer.from(b)),
    );
    fc.assert(
      fc.property(payloadArb, (payload) => {
        const result = decodedOrRefused(payload);
        if (result instanceof TransportError) {
          expect(result.code).toBe('TRANSPORT_PROTOCOL');
          expect(result.message).toMatch(/^HELLO/);
          return;
        }
        expect(Object.keys(result).sort()).toEqual(['name', 'networkId', 'version']);
        expect(Number.isSafeInteger(result.version)).toBe(true);
        for (const text of [result.name, result.networkId]) {
          expect(typeof text).toBe('string');
          expect(text.length).toBeGreaterThan(0);
          expect(text.length).toBeLessThanOrEqual(NAME_CHARS_MAX);
        }
      }),
      { numRuns: 400 },
    );
  });
});
