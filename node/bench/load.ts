import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import type { ChainnodeClient } from '../sdk/index.js';
import { peakRssBytes, procStat, systemCpu, treeCpuSeconds } from './proc.js';
import { OpenLoopSchedule, perSecond, round, summarize, type Distribution } from './stats.js';

/** Wall-clock milliseconds with sub-millisecond resolution (comparable with block timestamps). */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** What one transaction went through, in wall-clock ms (see `now`). */
export interface TxTrace {
  /** When it was due: the open-loop schedule's time, or the start for closed loops. */
  scheduledAt: number;
  startedAt: number;
  /** The gateway returned the endorsed transaction (null: pre-endorsed, or failed before). */
  endorsedAt: number | null;
  /** The client-signed transaction went to the gateway's submit. */
  submittedAt: number | null;
  doneAt: number;
  /** The validation code name from the gateway peer (VALID, MVCC_READ_CONFLICT, …); null after an error. */
  validation: string | null;
  height: number | null;
  error: string | null;
}

/** Runs transaction `seq` and fills in its marks (endorsedAt, submittedAt, validation, height). */
export type Transactor = (seq: number, trace: TxTrace) => Promise<void>;

export interface NodeProcess {
  readonly name: string;
  readonly role: 'orderer' | 'peer';
  readonly org: string;
  readonly pid: number | null;
}

interface SeenBlock {
  /** When the first orderer's event for it reached us: it was final and stored there. */
  readonly seenAt: number;
  /** The leader's clock when it cut the batch (header.timestampMs). */
  readonly timestampMs: number;
  readonly txCount: number;
}

/**
 * Follows every orderer's /events stream and keeps, per height, when the first orderer reported
 * the block final (an orderer emits it after storing the block, node/node.ts commitBlock), the
 * block's timestamp and its size. The streams cost each orderer one JSON line per block.
 */
export class BlockTracker {
  readonly blocks = new Map<number, SeenBlock>();
  private readonly abort = new AbortController();
  private readonly streams: Promise<void>[] = [];

  private clients: readonly ChainnodeClient[] = [];

  start(orderers: readonly ChainnodeClient[]): void {
    this.clients = orderers;
    for (const client of orderers) this.streams.push(this.follow(client));
  }

  private async follow(client: ChainnodeClient): Promise<void> {
    try {
      for await (const e of client.events(this.abort.signal)) {
        if (e.event !== 'block') continue;
        const b = e.data as { height: number; timestampMs: number; txCount: number };
        if (!this.blocks.has(b.height))
          this.blocks.set(b.height, { seenAt: now(), timestampMs: b.timestampMs, txCount: b.txCount });
      }
    } catch {
      // Aborted, or the orderer went away: its blocks still come from the others.
    }
  }

  /** The highest consensus view any orderer reports (/status), or null if none answers. */
  async maxView(): Promise<number | null> {
    const views = await Promise.all(
      this.clients.map(async (c) => {
        try {
          const s = (await c.status()) as { view?: unknown };
          return typeof s.view === 'number' ? s.view : null;
        } catch {
          return null;
        }
      }),
    );
    const known = views.filter((v): v is number => v !== null);
    return known.length === 0 ? null : Math.max(...known);
  }

  /** Blocks first seen final in [from, to): count and transactions. */
  between(from: number, to: number): { blocks: number; txs: number } {
    let blocks = 0;
    let txs = 0;
    for (const b of this.blocks.values()) {
      if (b.seenAt >= from && b.seenAt < to) {
        blocks += 1;
        txs += b.txCount;
      }
    }
    return { blocks, txs };
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.streams);
    for (const c of this.clients) c.close();
  }
}

export type RunSpec =
  | { readonly kind: 'closed'; readonly clients: number }
  | {
      readonly kind: 'open';
      readonly ratePerSec: number;
      readonly arrival: 'uniform' | 'poisson';
      /** Transactions allowed in flight; a due transaction beyond this is shed (counted, not sent). */
      readonly maxInFlight: number;
    };

export interface LoadOptions {
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Longest wait for transactions still in flight when the window closes. */
  readonly drainMs: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (elapsedMs: number, totalMs: number, committed: number) => void;
}

export interface NodeUsage {
  readonly role: string;
  readonly org: string;
  /** CPU seconds (user + system) during the measured window, from /proc/<pid>/stat. */
  readonly cpuSeconds: number | null;
  /** Percent of one core. */
  readonly cpuPercent: number | null;
  /** CPU milliseconds per committed transaction. */
  readonly cpuMsPerTx: number | null;
  /** Peak resident set (VmHWM of /proc/<pid>/status) since the process started, in MiB. */
  readonly peakRssMb: number | null;
}

export interface RunResult {
  readonly kind: 'closed' | 'open';
  readonly clients: number | null;
  readonly offeredTps: number | null;
  readonly arrival: 'uniform' | 'poisson' | null;
  readonly warmupSeconds: number;
  readonly seconds: number;
  /** Transactions started (closed) or due (open) in the window. */
  readonly started: number;
  /** Completions in the window, by outcome. */
  readonly committed: number;
  readonly invalid: number;
  readonly errors: number;
  /** Open loop: due in the window but not sent because maxInFlight were already waiting. */
  readonly shed: number;
  /** Started in the window and still unanswered when the drain gave up. */
  readonly unfinished: number;
  readonly tps: number;
  readonly invalidTps: number;
  readonly errorTps: number;
  readonly blocks: number;
  readonly blocksPerSec: number;
  /**
   * Consensus view changes during the window (the highest view any orderer reports, end minus
   * start): each is a leader given up on, and seconds without blocks.
   */
  readonly viewChanges: number | null;
  readonly txPerBlock: number | null;
  /** Due/start to the gateway's commit notification, ms, of VALID transactions started in the window. */
  readonly latency: Distribution;
  readonly phases: {
    /** Open loop: how late the generator started a due transaction (its own queue). */
    readonly generatorLag: Distribution;
    readonly endorse: Distribution;
    readonly order: Distribution;
    readonly batchWait: Distribution;
    readonly consensus: Distribution;
    readonly commit: Distribution;
  };
  readonly outcomes: Record<string, number>;
  readonly errorSamples: readonly string[];
  readonly nodes: Record<string, NodeUsage>;
  readonly postgres: { readonly cpuSeconds: number | null; readonly cpuPercent: number | null } | null;
  readonly client: { readonly cpuSeconds: number; readonly cpuPercent: number };
  /** CPU the benchmark used in the window (nodes, PostgreSQL, load generator) over cores × seconds. */
  readonly machineCpuUtilisation: number | null;
  /**
   * CPU busy on the whole machine in the window (/proc/stat, steal included) over cores ×
   * seconds. Well above machineCpuUtilisation means other processes competed for the cores and
   * the figures are not this network's alone.
   */
  readonly machineCpuBusy: number | null;
}

interface CpuSnapshot {
  readonly nodes: Map<string, number | null>;
  readonly postgres: number | null;
  readonly client: NodeJS.CpuUsage;
  readonly system: { busy: number; total: number } | null;
}

async function cpuSnapshot(nodes: readonly NodeProcess[], postgresPid: number | null): Promise<CpuSnapshot> {
  const [entries, postgres, system] = await Promise.all([
    Promise.all(
      nodes.map(async (n): Promise<[string, number | null]> => [
        n.name,
        n.pid === null ? null : ((await procStat(n.pid))?.cpuSeconds ?? null),
      ]),
    ),
    postgresPid === null ? Promise.resolve(null) : treeCpuSeconds(postgresPid),
    systemCpu(),
  ]);
  return { nodes: new Map(entries), postgres, client: process.cpuUsage(), system };
}

/** Waits `ms`, or less if `signal` aborts first (an interrupted run still reports what it has). */
async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0 || signal?.aborted === true) return;
  try {
    await sleep(ms, undefined, signal === undefined ? {} : { signal });
  } catch {
    // aborted
  }
}

function busyBetween(
  before: { busy: number; total: number } | null,
  after: { busy: number; total: number } | null,
): number | null {
  if (before === null || after === null || after.total <= before.total) return null;
  return round((after.busy - before.busy) / (after.total - before.total), 3);
}

const diff = (a: number | null | undefined, b: number | null | undefined): number | null =>
  typeof a === 'number' && typeof b === 'number' ? round(a - b, 2) : null;

/**
 * One measured run. Closed loop: `clients` workers each start a transaction, wait for its
 * commit, and start the next. Open loop: transactions start at the schedule's times whether or
 * not earlier ones finished, and latency counts from the due time. Either way a warm-up comes
 * first and is not measured; throughput counts completions inside the window; latency and phases
 * are of the transactions started inside it, waited for after the window closes (so slow ones
 * are not dropped); CPU is read from /proc at the window's two ends.
 *
 * Phases, from the client's clock and the orderers' block events (one machine, one clock):
 *   endorse    sign the proposal, POST /gateway/endorse: the gateway simulates on the
 *              policy's peers and collects their endorsements
 *   order      POST /gateway/submit until the first orderer reports the block holding it final
 *              and stored; split at the block's timestamp (the leader's clock, to its 10 ms
 *              tick, when it cut the batch) into
 *     batchWait  submit → batch cut: transfer, admission, waiting in the pool for a block
 *     consensus  batch cut → final at an orderer: PRE-PREPARE/PREPARE/COMMIT, vote fsyncs,
 *                storing the block, the event reaching us
 *   commit     final at an orderer → the gateway answers: delivery to the peer, certificate
 *              check, validation, the peer's PostgreSQL commit, the HTTP response
 * Block events and answers travel on different connections; a negative split is clamped to 0.
 */
export async function runLoad(
  ctx: {
    readonly transact: Transactor;
    readonly nodes: readonly NodeProcess[];
    readonly postgresPid: number | null;
    readonly tracker: BlockTracker;
    readonly cores: number;
  },
  spec: RunSpec,
  options: LoadOptions,
): Promise<RunResult> {
  const start = now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  const totalMs = options.warmupMs + options.durationMs;
  const traces: TxTrace[] = [];
  const inFlight = new Set<Promise<void>>();
  let seq = 0;
  let shed = 0;
  let committedSoFar = 0;
  const stopped = (): boolean => options.signal?.aborted === true;

  let before: CpuSnapshot | undefined;
  let after: CpuSnapshot | undefined;
  const views: { before: number | null; after: number | null } = { before: null, after: null };
  const snapshots = (async () => {
    await pause(measureFrom - now(), options.signal);
    [before, views.before] = await Promise.all([
      cpuSnapshot(ctx.nodes, ctx.postgresPid),
      ctx.tracker.maxView(),
    ]);
    await pause(end - now(), options.signal);
    [after, views.after] = await Promise.all([
      cpuSnapshot(ctx.nodes, ctx.postgresPid),
      ctx.tracker.maxView(),
    ]);
  })();

  const progress = setInterval(() => {
    options.onProgress?.(Math.min(totalMs, now() - start), totalMs, committedSoFar);
  }, 250);

  const launch = (scheduledAt: number): Promise<void> => {
    const trace: TxTrace = {
      scheduledAt,
      startedAt: now(),
      endorsedAt: null,
      submittedAt: null,
      doneAt: 0,
      validation: null,
      height: null,
      error: null,
    };
    const p = ctx
      .transact(seq++, trace)
      .catch((e: unknown) => {
        const code = (e as { code?: unknown }).code;
        trace.error = `${typeof code === 'string' ? `${code}: ` : ''}${(e as Error).message}`.slice(0, 300);
      })
      .finally(() => {
        trace.doneAt = now();
        if (trace.validation === 'VALID' && trace.doneAt >= measureFrom) committedSoFar += 1;
        inFlight.delete(p);
      });
    traces.push(trace);
    inFlight.add(p);
    return p;
  };

  if (spec.kind === 'closed') {
    const worker = async (): Promise<void> => {
      while (now() < end && !stopped()) await launch(now());
    };
    await Promise.all(Array.from({ length: spec.clients }, worker));
  } else {
    const schedule = new OpenLoopSchedule(spec.ratePerSec, spec.arrival);
    let burst = 0;
    for (
      let due = start + schedule.nextDueMs();
      due < end && !stopped();
      due = start + schedule.nextDueMs()
    ) {
      const wait = due - now();
      if (wait > 1) {
        burst = 0;
        await pause(wait, options.signal);
      } else if (++burst % 64 === 0) {
        // Behind schedule: catch up, but let responses in now and then (their times count).
        await yieldToEventLoop();
      }
      if (inFlight.size >= spec.maxInFlight) {
        if (due >= measureFrom) shed += 1;
        continue;
      }
      void launch(due);
    }
  }
  const drainDeadline = now() + options.drainMs;
  while (inFlight.size > 0 && now() < drainDeadline && !stopped()) {
    // An unref'd timer: once everything settled, it must not keep the process alive.
    await Promise.race([
      Promise.allSettled([...inFlight]),
      sleep(Math.max(0, drainDeadline - now()), undefined, { ref: false }),
    ]);
  }
  const unfinishedTraces = new Set(
    traces.filter((t) => t.doneAt === 0 && t.scheduledAt >= measureFrom && t.scheduledAt < end),
  );
  clearInterval(progress);
  await snapshots;
  options.onProgress?.(totalMs, totalMs, committedSoFar);

  const seconds = options.durationMs / 1000;
  const inWindow = (t: number): boolean => t >= measureFrom && t < end;
  const done = traces.filter((t) => t.doneAt !== 0 && !unfinishedTraces.has(t));
  const completed = done.filter((t) => inWindow(t.doneAt));
  const outcomes: Record<string, number> = {};
  for (const t of completed) {
    const key = t.validation ?? 'ERROR';
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  const committed = outcomes.VALID ?? 0;
  const errors = outcomes.ERROR ?? 0;
  const invalid = completed.length - committed - errors;
  const started = done.filter((t) => inWindow(t.scheduledAt));
  const valid = started.filter((t) => t.validation === 'VALID');

  const phase = (pick: (t: TxTrace) => number | null): Distribution =>
    summarize(
      valid
        .map(pick)
        .filter((v): v is number => v !== null)
        .map((v) => Math.max(0, v)),
    );
  const block = (t: TxTrace) => (t.height === null ? undefined : ctx.tracker.blocks.get(t.height));
  const window = ctx.tracker.between(measureFrom, end);

  const b = before;
  const a = after;
  const nodes: Record<string, NodeUsage> = {};
  await Promise.all(
    ctx.nodes.map(async (n) => {
      const cpu = diff(a?.nodes.get(n.name), b?.nodes.get(n.name));
      const rss = n.pid === null ? null : await peakRssBytes(n.pid);
      nodes[n.name] = {
        role: n.role,
        org: n.org,
        cpuSeconds: cpu,
        cpuPercent: cpu === null ? null : round((100 * cpu) / seconds),
        cpuMsPerTx: cpu === null || committed === 0 ? null : round((1000 * cpu) / committed, 2),
        peakRssMb: rss === null ? null : round(rss / 2 ** 20),
      };
    }),
  );
  const postgresCpu = ctx.postgresPid === null ? null : diff(a?.postgres, b?.postgres);
  const clientUsage = a !== undefined && b !== undefined ? a.client : process.cpuUsage();
  const clientCpu =
    b === undefined
      ? 0
      : round((clientUsage.user - b.client.user + clientUsage.system - b.client.system) / 1e6, 2);
  const nodeCpu = Object.values(nodes).map((n) => n.cpuSeconds);
  const allKnown = nodeCpu.every((c) => c !== null);
  const totalCpu = nodeCpu.reduce<number>((s, c) => s + (c ?? 0), 0) + (postgresCpu ?? 0) + clientCpu;

  const errorSamples = [...new Set(traces.map((t) => t.error).filter((e): e is string => e !== null))].slice(
    0,
    5,
  );

  return {
    kind: spec.kind,
    clients: spec.kind === 'closed' ? spec.clients : null,
    offeredTps: spec.kind === 'open' ? spec.ratePerSec : null,
    arrival: spec.kind === 'open' ? spec.arrival : null,
    warmupSeconds: options.warmupMs / 1000,
    seconds,
    started: started.length + unfinishedTraces.size,
    committed,
    invalid,
    errors,
    shed,
    unfinished: unfinishedTraces.size,
    tps: round(perSecond(committed, seconds)),
    invalidTps: round(perSecond(invalid, seconds)),
    errorTps: round(perSecond(errors, seconds)),
    blocks: window.blocks,
    blocksPerSec: round(perSecond(window.blocks, seconds)),
    viewChanges: views.before === null || views.after === null ? null : views.after - views.before,
    txPerBlock: window.blocks === 0 ? null : round(window.txs / window.blocks),
    latency: phase((t) => t.doneAt - t.scheduledAt),
    phases: {
      generatorLag: summarize(started.map((t) => Math.max(0, t.startedAt - t.scheduledAt))),
      endorse: phase((t) => (t.endorsedAt === null ? null : t.endorsedAt - t.startedAt)),
      order: phase((t) => {
        const seen = block(t);
        return seen === undefined || t.submittedAt === null ? null : seen.seenAt - t.submittedAt;
      }),
      batchWait: phase((t) => {
        const seen = block(t);
        return seen === undefined || t.submittedAt === null ? null : seen.timestampMs - t.submittedAt;
      }),
      consensus: phase((t) => {
        const seen = block(t);
        return seen === undefined ? null : seen.seenAt - seen.timestampMs;
      }),
      commit: phase((t) => {
        const seen = block(t);
        return seen === undefined ? null : t.doneAt - seen.seenAt;
      }),
    },
    outcomes,
    errorSamples,
    nodes,
    postgres:
      ctx.postgresPid === null
        ? null
        : {
            cpuSeconds: postgresCpu,
            cpuPercent: postgresCpu === null ? null : round((100 * postgresCpu) / seconds),
          },
    client: { cpuSeconds: clientCpu, cpuPercent: round((100 * clientCpu) / seconds) },
    machineCpuUtilisation: allKnown && b !== undefined ? round(totalCpu / (ctx.cores * seconds), 3) : null,
    machineCpuBusy: busyBetween(b?.system ?? null, a?.system ?? null),
  };
}

export interface IdleUsage {
  readonly seconds: number;
  /** Percent of one core each node uses with no load: ticks, heartbeats, status messages. */
  readonly nodes: Record<string, number | null>;
  readonly postgres: number | null;
}

/** CPU the network uses doing nothing, over `ms`: the floor under every per-transaction figure. */
export async function measureIdle(
  nodes: readonly NodeProcess[],
  postgresPid: number | null,
  ms: number,
): Promise<IdleUsage> {
  const before = await cpuSnapshot(nodes, postgresPid);
  const t0 = now();
  await sleep(ms);
  const after = await cpuSnapshot(nodes, postgresPid);
  const seconds = (now() - t0) / 1000;
  const pct = (cpu: number | null): number | null => (cpu === null ? null : round((100 * cpu) / seconds));
  return {
    seconds: round(seconds, 2),
    nodes: Object.fromEntries(
      nodes.map((n) => [n.name, pct(diff(after.nodes.get(n.name), before.nodes.get(n.name)))]),
    ),
    postgres: postgresPid === null ? null : pct(diff(after.postgres, before.postgres)),
  };
}
