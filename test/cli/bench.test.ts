import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomLoopback, runChainnode } from '../support/processes.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'chainnode-bench-test-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const tempNetworks = async (): Promise<string[]> =>
  (await readdir(tmpdir())).filter(
    (n) => n.startsWith('chainnode-bench-') && !n.startsWith('chainnode-bench-test-'),
  );

/** A distribution as the result file writes it: every figure present, ordered, in ms. */
function expectDistribution(d: any): void {
  for (const k of ['p50', 'p90', 'p99', 'max', 'mean']) expect(typeof d[k]).toBe('number');
  const { p50, p90, p99, max } = d as { p50: number; p90: number; p99: number; max: number };
  expect(p50).toBeGreaterThan(0);
  expect(p50).toBeLessThanOrEqual(p90);
  expect(p90).toBeLessThanOrEqual(p99);
  expect(p99).toBeLessThanOrEqual(max);
  expect(max).toBeLessThan(60_000);
  expect(d.count).toBeGreaterThan(0);
}

describe('chainnode bench', () => {
  it('starts a 1-orderer network, runs closed- and open-loop load, measures the bounds, writes a complete result and tears the network down', async () => {
    const before = await tempNetworks();
    const { host, basePort } = randomLoopback();
    const out = join(work, 'results', 'smoke.json');
    const run = await runChainnode([
      'bench',
      '--orderers',
      '1',
      '--orgs',
      '1',
      '--peers-per-org',
      '1',
      '--host',
      host,
      '--base-port',
      String(basePort),
      '--policy',
      'org1',
      '--contract',
      'kv',
      '--payload',
      '32',
      '--clients',
      '4',
      '--rate',
      '15',
      '--warmup',
      '1',
      '--duration',
      '3',
      '--out',
      out,
      '--json',
    ]);
    if (run.code !== 0) throw new Error(`chainnode bench failed (${run.code}): ${run.stderr}`);
    const result = JSON.parse(run.stdout);
    // --out gets the same document as stdout.
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(result);

    expect(result.schema).toBe('chainnode-bench/1');
    expect(result.network).toMatchObject({ temporary: true, dir: null, orderers: 1, orgs: 1, peers: 1 });
    expect(result.workload).toMatchObject({
      contract: 'kv',
      payloadBytes: 32,
      mode: 'full',
      policy: "'org1'",
      endorsingOrgs: 1,
      gateways: ['peer0-org1'],
    });
    expect(result.machine.cores).toBeGreaterThan(0);

    // The headline: the closed-loop run; the fields a script reads.
    expect(result.headline).toBe('closed');
    expect(result.tps).toBeGreaterThan(0);
    expect(result.tps).toBe(result.closed.tps);
    expect(result.invalidTps).toBe(0);
    expect(result.blocksPerSec).toBeGreaterThan(0);
    expectDistribution(result.latency);
    expect(result.peak).toEqual({ clients: 4, tps: result.tps });

    expect(result.runs.map((r: any) => r.label)).toEqual(['closed', 'open']);
    for (const r of [result.closed, result.open]) {
      expect(r.seconds).toBe(3);
      expect(r.committed).toBeGreaterThan(0);
      expect(r.errors).toBe(0);
      expect(r.outcomes).toEqual({ VALID: r.committed });
      expect(r.tps).toBeCloseTo(r.committed / 3, 0);
      expect(r.txPerBlock).toBeGreaterThanOrEqual(1);
      expect(r.viewChanges).toBe(0);
      expectDistribution(r.latency);
      // Every phase was measured, and no phase is longer than the whole.
      for (const phase of ['endorse', 'order', 'commit']) {
        expectDistribution(r.phases[phase]);
        expect(r.phases[phase].p50).toBeLessThanOrEqual(r.latency.max as number);
      }
      expect(r.phases.consensus.count).toBeGreaterThan(0);
      expect(r.phases.batchWait.count).toBeGreaterThan(0);
      for (const name of ['orderer0', 'peer0-org1']) {
        const node = r.nodes[name];
        expect(node.cpuSeconds).toBeGreaterThan(0);
        expect(node.cpuMsPerTx).toBeGreaterThan(0);
        expect(node.peakRssMb).toBeGreaterThan(10);
      }
      expect(r.postgres.cpuSeconds).toBeGreaterThanOrEqual(0);
      expect(r.client.cpuSeconds).toBeGreaterThan(0);
      expect(r.machineCpuUtilisation).toBeGreaterThan(0);
    }
    expect(result.open).toMatchObject({ kind: 'open', offeredTps: 15, arrival: 'uniform', shed: 0 });
    expect(result.open.tps).toBeGreaterThan(5);
    expect(result.open.phases.generatorLag.count).toBe(result.open.started);

    expect(result.bounds.signPerSec).toBeGreaterThan(0);
    expect(result.bounds.verifyPerSec).toBeGreaterThan(0);
    expect(result.bounds.sha256MbPerSec).toBeGreaterThan(0);
    expect(result.bounds.contractCallsPerSec).toBeGreaterThan(0);
    expect(result.bounds.ledger.txPerSec).toBeGreaterThan(0);
    expect(result.bounds.ledger.cpuMsPerTx).toBeGreaterThan(0);
    expect(result.limit.signatures).toEqual({
      perTx: { signs: 3, verifies: 4 },
      perBlock: { signs: 7, verifies: 3 },
    });
    expect(result.limit.tps).toBeGreaterThan(0);
    expect(result.limit.achievedRatio).toBeCloseTo(result.tps / result.limit.tps, 2);

    // Torn down: no temporary network directory left behind.
    expect((await tempNetworks()).filter((n) => !before.includes(n))).toEqual([]);
  }, 150_000);

  it('keeps the micro-benchmarks under `bench micro` (and the old `bench crypto`)', async () => {
    for (const args of [
      ['bench', 'micro', 'crypto', '--json'],
      ['bench', 'crypto', '--json'],
    ]) {
      const run = await runChainnode(args);
      expect(run.code).toBe(0);
      const result = JSON.parse(run.stdout) as { crypto: { signPerSec: number; verifyPerSec: number } };
      expect(result.crypto.signPerSec).toBeGreaterThan(0);
      expect(result.crypto.verifyPerSec).toBeGreaterThan(0);
    }
  });

  it('names a bad policy or contract, and a network that is not running, in one line', async () => {
    const policy = await runChainnode(['bench', '--policy', 'XOR(org1)']);
    expect(policy.code).toBe(1);
    expect(policy.stderr.trim()).toBe(
      'chainnode: invalid policy "XOR(org1)" at character 4: unknown policy operator XOR (use AND, OR or OutOf)',
    );
    const contract = await runChainnode(['bench', '--contract', 'nope']);
    expect(contract.code).toBe(1);
    expect(contract.stderr).toContain('--contract must be one of kv, asset-transfer, trade');
    const dir = join(work, 'not-running');
    for (const args of [
      ['bench', '--network', dir],
      ['--dir', dir, 'bench-e2e'],
    ]) {
      const r = await runChainnode(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`no local network is running from ${dir}`);
    }
    expect(existsSync(join(work, 'bench-results'))).toBe(false);
  });
});
