import { describe, expect, it } from '@jest/globals';
import {
  clientSteps,
  mulberry32,
  OpenLoopSchedule,
  peakReached,
  percentile,
  perSecond,
  ratePerSec,
  round,
  summarize,
} from './stats.js';

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
    expect(perSecond(300, 20)).toBe(15);
    expect(perSecond(5, 0)).toBe(0);
  });

  it('summarises a latency distribution without claiming figures for no samples', () => {
    // 1..1000 ms: nearest rank puts p50 at 500, p90 at 900, p99 at 990.
    const samples = Array.from({ length: 1000 }, (_, i) => 1000 - i);
    expect(summarize(samples)).toEqual({ count: 1000, p50: 500, p90: 900, p99: 990, max: 1000, mean: 500.5 });
    const d = summarize([3.14159, 2.71828]);
    expect(d.p50).toBe(2.7);
    expect(d.max).toBe(3.1);
    expect(summarize([])).toEqual({ count: 0, p50: null, p90: null, p99: null, max: null, mean: null });
    // Percentiles never decrease.
    const random = mulberry32(7);
    const s = summarize(Array.from({ length: 5000 }, () => random() * 100));
    expect(s.p50!).toBeLessThanOrEqual(s.p90!);
    expect(s.p90!).toBeLessThanOrEqual(s.p99!);
    expect(s.p99!).toBeLessThanOrEqual(s.max!);
  });
});

describe('the open-loop schedule', () => {
  it('spaces uniform arrivals evenly at the offered rate, from time 0', () => {
    const schedule = new OpenLoopSchedule(200);
    const due = Array.from({ length: 5 }, () => schedule.nextDueMs());
    expect(due).toEqual([0, 5, 10, 15, 20]);
  });

  it('offers the rate on average with poisson arrivals, reproducibly for a seed', () => {
    const draw = (seed: number): number[] => {
      const s = new OpenLoopSchedule(1000, 'poisson', seed);
      return Array.from({ length: 20_000 }, () => s.nextDueMs());
    };
    const times = draw(42);
    expect(draw(42)).toEqual(times);
    expect(draw(43)).not.toEqual(times);
    // 20,000 arrivals at 1000/s take about 20 s (the sum of n exponentials has sd √n/rate).
    const last = times[times.length - 1]!;
    expect(last).toBeGreaterThan(19_400);
    expect(last).toBeLessThan(20_600);
    // Gaps are irregular (coefficient of variation ≈ 1) and never negative.
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(0);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / gaps.length);
    expect(sd / mean).toBeGreaterThan(0.9);
    expect(sd / mean).toBeLessThan(1.1);
  });

  it('refuses a rate that is not a positive number', () => {
    expect(() => new OpenLoopSchedule(0)).toThrow(RangeError);
    expect(() => new OpenLoopSchedule(Number.NaN)).toThrow(RangeError);
    expect(() => new OpenLoopSchedule(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });

  it('draws uniform numbers in [0, 1)', () => {
    const random = mulberry32(1);
    const xs = Array.from({ length: 10_000 }, random);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((a, b) => a + b, 0) / xs.length).toBeCloseTo(0.5, 1);
  });
});

describe('the closed-loop peak search', () => {
  it('doubles the clients up to the maximum, which is always tried', () => {
    expect(clientSteps(4, 256)).toEqual([4, 8, 16, 32, 64, 128, 256]);
    expect(clientSteps(4, 100)).toEqual([4, 8, 16, 32, 64, 100]);
    expect(clientSteps(8, 8)).toEqual([8]);
    expect(() => clientSteps(0, 8)).toThrow(RangeError);
    expect(() => clientSteps(16, 8)).toThrow(RangeError);
  });

  it('stops once two steps in a row fail to grow throughput by 5 % over the best before them', () => {
    expect(peakReached([])).toBe(false);
    expect(peakReached([100])).toBe(false);
    expect(peakReached([100, 180])).toBe(false);
    expect(peakReached([100, 180, 185])).toBe(false); // +2.8 %: flat once
    expect(peakReached([100, 180, 185, 186])).toBe(true); // flat twice
    expect(peakReached([100, 180, 150, 200])).toBe(false); // a dip, then growth again
    expect(peakReached([100, 180, 150, 170])).toBe(true); // below the best twice
    expect(peakReached([100, 180, 150], 0.05, 1)).toBe(true); // patience 1
    expect(peakReached([100, 180, 190, 200], 0.05)).toBe(false); // +5.6 % and +5.3 %
  });
});
