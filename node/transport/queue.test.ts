import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { backoffDelayMs } from './backoff.js';
import { OutboundQueue } from './queue.js';

describe('OutboundQueue', () => {
  it('refuses the frame that would pass the frame cap', () => {
    const queue = new OutboundQueue(2, 1_000);
    expect(queue.push(Buffer.alloc(1))).toBe(true);
    expect(queue.push(Buffer.alloc(1))).toBe(true);
    expect(queue.push(Buffer.alloc(1))).toBe(false);
    expect(queue.frames).toBe(2);
  });

  it('refuses the frame that would pass the byte cap, and keeps what it holds in order', () => {
    const queue = new OutboundQueue(100, 10);
    expect(queue.push(Buffer.from('abcdef'))).toBe(true);
    expect(queue.push(Buffer.from('ghijk'))).toBe(false);
    expect(queue.push(Buffer.from('ghij'))).toBe(true);
    expect(queue.bytes).toBe(10);
    expect(queue.shift()?.toString()).toBe('abcdef');
    expect(queue.shift()?.toString()).toBe('ghij');
    expect(queue.shift()).toBeUndefined();
    expect(queue.bytes).toBe(0);
  });

  it('never holds more than its caps, whatever is pushed and shifted', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.nat({ max: 300 }), fc.constant(-1)), { maxLength: 3000 }), (ops) => {
        const queue = new OutboundQueue(50, 2_000);
        const model: number[] = [];
        for (const op of ops) {
          if (op < 0) {
            expect(queue.shift()?.length).toBe(model.shift());
          } else if (queue.push(Buffer.alloc(op))) {
            model.push(op);
          }
          expect(queue.frames).toBe(model.length);
          expect(queue.frames).toBeLessThanOrEqual(50);
          expect(queue.bytes).toBeLessThanOrEqual(2_000);
        }
      }),
    );
  });
});

describe('backoffDelayMs', () => {
  it('is full jitter under an exponential cap that stops at the maximum', () => {
    expect(backoffDelayMs(0, () => 0.999, 100, 5_000)).toBe(99);
    expect(backoffDelayMs(3, () => 0.5, 100, 5_000)).toBe(400);
    expect(backoffDelayMs(10, () => 0.5, 100, 5_000)).toBe(2_500);
    expect(backoffDelayMs(1_000, () => 0.999, 100, 5_000)).toBe(4_995);
    expect(backoffDelayMs(5, () => 0, 100, 5_000)).toBe(0);
  });

  it('stays within [0, max) for any attempt and random value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -5, max: 10_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (n, r) => {
          const delay = backoffDelayMs(n, () => r, 100, 5_000);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(5_000);
        },
      ),
    );
  });
});
