import { describe, expect, it } from '@jest/globals';
import { percentile, ratePerSec, round } from './stats.js';

describe('benchmark statistics', () => {
  it('takes nearest-rank percentiles of unsorted samples', () => {
    const samples = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(samples, 50)).toBe(5);
    expect(percentile(samples, 90)).toBe(9);
    expect(percentile(samples, 99)).toBe(10);
    expect(percentile(samples, 0)).toBe(1);
    expect(percentile([42], 99)).toBe(42);
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile(samples, 101)).toThrow(RangeError);
  });

  it('turns a count over nanoseconds into a rate per second', () => {
    expect(ratePerSec(500, 250_000_000n)).toBe(2000);
    expect(ratePerSec(1, 0n)).toBeNaN();
    expect(round(1234.5678, 2)).toBe(1234.57);
  });
});
