import { readFile } from 'node:fs/promises';
import { SigningKey } from '../crypto/index.js';
import { readNodeIdentity, readUserIdentity, type LoadedNetwork } from '../config/index.js';
import type { ChainnodeClient } from '../sdk/index.js';
import { invokeEnvelope, type Signer } from '../workload/index.js';
import { percentile } from './stats.js';

export interface EndToEndOptions {
  /** 'full': propose, endorse on the policy's peers, order, validate. 'order': pre-endorsed envelopes, so only ordering and validation are measured. */
  readonly mode: 'full' | 'order';
  readonly concurrency: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  /** Bytes of the value each kv put writes. */
  readonly payloadBytes: number;
  readonly onProgress?: (doneMs: number, committed: number) => void;
}

export interface EndToEndResult {
  readonly mode: EndToEndOptions['mode'];
  readonly concurrency: number;
  readonly seconds: number;
  readonly committed: number;
  readonly invalid: number;
  readonly errors: number;
  readonly tps: number;
  readonly latency: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly max: number;
  };
  /** CPU seconds each node process used during the measured interval (Linux /proc). */
  readonly nodeCpuSeconds: Record<string, number>;
}

/** CPU seconds (user + system) of a process, from /proc/<pid>/stat; null if unreadable. */
async function processCpuSeconds(pid: number): Promise<number | null> {
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
    // Fields 14 and 15 of stat (utime, stime), counted from the state field (index 0 here = field 3).
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / 100 : null;
  } catch {
    return null;
  }
}

/** CPU seconds of every node process now, by node name. */
async function cpuSnapshot(pids: Record<string, number | null>): Promise<Map<string, number | null>> {
  const entries = await Promise.all(
    Object.entries(pids).map(async ([name, pid]): Promise<[string, number | null]> => [
      name,
      pid === null ? null : await processCpuSeconds(pid),
    ]),
  );
  return new Map(entries);
}

/**
 * A closed-loop load against a running network: `concurrency` clients each submit a kv put and
 * wait for its commit, then submit the next, for `durationMs` after a warm-up. Latency is from
 * submission to the gateway peer reporting the validation code.
 */
export async function benchEndToEnd(
  network: LoadedNetwork,
  dir: string,
  client: ChainnodeClient,
  nodePids: Record<string, number | null>,
  options: EndToEndOptions,
): Promise<EndToEndResult> {
  const value = 'x'.repeat(options.payloadBytes);
  let signer: Signer | undefined;
  let endorsers: Signer[] = [];
  if (options.mode === 'order') {
    const org = network.config.orgs[0]?.name ?? 'org1';
    const u = await readUserIdentity(dir, org, 'client');
    signer = {
      identity: { org: org as Signer['identity']['org'], cert: u.certPem },
      key: SigningKey.fromPem(u.keyPem),
    };
    endorsers = await Promise.all(
      network.config.orgs.map(async (o) => {
        const p = network.config.peers.find((x) => x.org === o.name);
        if (p === undefined) throw new Error(`org ${o.name} has no peer to endorse`);
        const files = await readNodeIdentity(dir, network.config, p.name);
        return { identity: { org: p.org, cert: p.cert }, key: SigningKey.fromPem(files.keyPem) };
      }),
    );
  }
  let seq = 0;
  const oneCall = async (): Promise<string> => {
    const key = `bench-${process.pid}-${seq++}`;
    if (options.mode === 'full')
      return (await client.submit({ contract: 'kv', fn: 'put', args: [key, value] })).validation;
    const envelope = invokeEnvelope(signer as Signer, endorsers, {
      contract: 'kv',
      fn: 'put',
      args: [key, value],
      outcome: () => ({
        rwset: {
          reads: [],
          writes: [{ ns: 'kv', key, value: Buffer.from(JSON.stringify(value)).toString('base64') }],
        },
      }),
    });
    return (await client.submitEnvelope(envelope)).validation;
  };

  const start = Date.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  const latencies: number[] = [];
  let committed = 0;
  let invalid = 0;
  let errors = 0;
  let cpuBefore = new Map<string, number | null>();
  let cpuTaken = false;
  const worker = async (): Promise<void> => {
    while (Date.now() < end) {
      const t0 = Date.now();
      if (!cpuTaken && t0 >= measureFrom) {
        cpuTaken = true;
        cpuBefore = await cpuSnapshot(nodePids);
      }
      let validation = 'ERROR';
      try {
        validation = await oneCall();
      } catch {
        validation = 'ERROR';
      }
      const t1 = Date.now();
      if (t0 >= measureFrom && t1 <= end) {
        if (validation === 'VALID') {
          committed += 1;
          latencies.push(t1 - t0);
        } else if (validation === 'ERROR') errors += 1;
        else invalid += 1;
      }
      options.onProgress?.(Math.max(0, t1 - measureFrom), committed);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const cpuAfter = await cpuSnapshot(nodePids);
  const seconds = options.durationMs / 1000;
  return {
    mode: options.mode,
    concurrency: options.concurrency,
    seconds,
    committed,
    invalid,
    errors,
    tps: committed / seconds,
    latency: {
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: percentile(latencies, 100),
    },
    nodeCpuSeconds: Object.fromEntries(
      Object.keys(nodePids).map((n) => {
        const a = cpuAfter.get(n);
        const b = cpuBefore.get(n);
        return [n, typeof a === 'number' && typeof b === 'number' ? Math.round((a - b) * 100) / 100 : -1];
      }),
    ),
  };
}
