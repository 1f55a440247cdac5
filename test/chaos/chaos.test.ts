import { describe, expect, it } from '@jest/globals';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabaseUrl } from '../support/database.js';
import { formatSummary, runChaos } from './runner.js';

// A short seeded chaos run in CI: real node processes behind fault-injecting relays, about a
// minute of kills, pauses, partitions, cuts, delays, resets and database outages under load, then
// the safety and liveness checks. `npm run chaos -- --duration 120 --seed S` is the long version.

/** Fixed, so CI replays the same schedule: `npm run chaos -- --duration 60 --seed 20251124`. */
const SEED = 20251124;
const DURATION_S = 60;
/** Fewer than this in a minute means the runner stalled rather than the system coped. */
const FAULTS_MIN = 30;

describe('chaos run (real processes, seeded faults)', () => {
  it(`survives ${DURATION_S} s of faults with seed ${SEED}: nothing acknowledged lost, no fork, heads converge, every chain verifies`, async () => {
    const logDir = await mkdtemp(join(tmpdir(), `chainnode-chaos-ci-${SEED}-`));
    const summary = await runChaos({
      seed: SEED,
      durationS: DURATION_S,
      databaseUrl: testDatabaseUrl(),
      logDir,
      log: (line) => process.stderr.write(`chaos ${line}\n`),
    });
    const report = formatSummary(summary);
    process.stderr.write(report + '\n');
    // The report carries the violations, their log excerpts and the replay command.
    expect({ violations: summary.violations.map((v) => `${v.kind}: ${v.message}`), report }).toEqual({
      violations: [],
      report,
    });
    expect(summary.faults.total).toBeGreaterThanOrEqual(FAULTS_MIN);
    expect(summary.tx.acknowledgedValid).toBeGreaterThan(0);
    expect(summary.tx.lost).toBe(0);
    expect(summary.forks).toBe(0);
  }, 600_000);
});
