import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import pg from 'pg';
import { loadSampleContract } from '../../node/contracts/index.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../../node/ledger/embedded-postgres.js';
import { Prng } from '../simulator/prng.js';
import { runChainnode } from '../support/processes.js';
import { checkLedgers, type Violation, type ViolationKind } from './checks.js';
import { ChaosCluster, type NodeStatus } from './cluster.js';
import { describePlan, FAULT_KINDS, nextPlan, type FaultKind, type FaultPlan, type Track } from './faults.js';
import { Load } from './load.js';
import { describeExit, type NodeProcess } from './node-process.js';
import type { FaultProxy, Impairment } from './proxy.js';

export interface ChaosOptions {
  readonly seed: number;
  /** How long faults are injected, in seconds; setup and the final checks come on top. */
  readonly durationS: number;
  /** PostgreSQL to use; default DATABASE_URL, else an embedded server of the run's own. */
  readonly databaseUrl?: string;
  /** Where the nodes' logs, the operation and fault histories and the summary go (kept). */
  readonly logDir?: string;
  /** Concurrent clients (closed loop). */
  readonly workers?: number;
  /** How long a node may take to catch up after its fault heals, before the run calls it a violation. */
  readonly settleTimeoutMs?: number;
  /** Bound on the time from the last heal to every node holding the same head. */
  readonly convergeTimeoutMs?: number;
  /** Fault kinds never drawn (e.g. one that hits a known bug, to look past it); default none. */
  readonly exclude?: readonly FaultKind[];
  /** Progress lines (one per fault); default: stderr. */
  readonly log?: (line: string) => void;
}

export interface FaultRecord {
  readonly track: string;
  readonly n: number;
  readonly kind: FaultKind;
  readonly target: string;
  readonly detail: string;
  /** ms since the run started. */
  readonly start: number;
  healed: number;
  settled: number;
  /** What was measured on the way: how long a stop or a restart took. */
  readonly notes: string[];
}

export interface ChaosSummary {
  readonly seed: number;
  /** Wall clock (ms since the epoch) of run time 0: node logs carry wall-clock times. */
  readonly startedAtMs: number;
  readonly durationS: number;
  readonly workers: number;
  readonly excluded: readonly FaultKind[];
  readonly faults: { readonly total: number; readonly byKind: Partial<Record<FaultKind, number>> };
  readonly tx: {
    readonly attempted: number;
    /** Acknowledged by a gateway as final (any validation code). */
    readonly acknowledged: number;
    readonly acknowledgedValid: number;
    /** Acknowledged VALID, by contract (kv needs both peers, kv-any either). */
    readonly validByContract: Record<string, number>;
    /** Calls that ended in an error (refused, timed out, connection lost): not acknowledged. */
    readonly failed: number;
    /** ... of which before the transaction was signed (the gateway unreachable or could not endorse). */
    readonly failedEndorsing: number;
    /** ... of which the transaction was committed anyway (an unknown outcome, allowed). */
    readonly failedButCommitted: number;
    /** Acknowledged, but missing from a peer's chain: a violation. */
    readonly lost: number;
    /** Copies of acknowledged transactions ordered again and flagged DUPLICATE_TXID. */
    readonly duplicates: number;
  };
  readonly forks: number;
  /** From the last heal to every node holding the same head; null if they never did. */
  readonly convergeMs: number | null;
  readonly heights: Record<string, number>;
  readonly violations: readonly Violation[];
  readonly logDir: string;
  readonly wallS: number;
}

const READY_TIMEOUT_MS = 120_000;
const POLL_MS = 300;
const STATUS_TIMEOUT_MS = 1_500;
/** Clean stop (SIGTERM) must finish within this. */
const STOP_TIMEOUT_MS = 30_000;
/** After the last heal, an acknowledged VALID transaction must come within this. */
const PROGRESS_TIMEOUT_MS = 60_000;
/** A node that crashes on its own is restarted (and reported) at most this often. */
const CRASH_RESTARTS_MAX = 3;
/** Every child the runner started, so a Ctrl-C can take them all down. */
const children = new Set<NodeProcess>();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** SIGKILLs every node process still running (for an interrupted run). */
export function killAllNodes(): void {
  for (const p of children) p.signal('SIGKILL');
}

/**
 * A chaos run with real processes, after CometBFT's e2e runner and etcd's robustness tests:
 * a 4-orderer, 2-org network, a steady load through the peers' gateways, faults from a seeded
 * schedule (kills, pauses, timer stress, partitions, one-way cuts, delays, stalls, resets,
 * database outages), then everything healed and the history checked against every chain.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosSummary> {
  const t0 = Date.now();
  const now = (): number => Date.now() - t0;
  const log =
    options.log ??
    ((line: string): void => {
      process.stderr.write(line + '\n');
    });
  const say = (line: string): void => {
    log(`[${(now() / 1000).toFixed(1).padStart(6)}s] ${line}`);
  };
  const seed = options.seed >>> 0;
  const exclude = new Set(options.exclude ?? []);
  const workers = options.workers ?? 4;
  const settleTimeoutMs = options.settleTimeoutMs ?? 60_000;
  const convergeTimeoutMs = options.convergeTimeoutMs ?? 60_000;
  const logDir = options.logDir ?? (await mkdtemp(join(tmpdir(), `chainnode-chaos-${seed}-`)));
  await mkdir(logDir, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'chainnode-chaos-net-'));
  const violations: Violation[] = [];
  const violation = (kind: ViolationKind, message: string, proc?: NodeProcess): void => {
    const v: Violation =
      proc === undefined
        ? { kind, message }
        : { kind, message, node: proc.name, log: proc.logFile, excerpt: proc.excerpt(25) };
    violations.push(v);
    say(`VIOLATION ${kind}: ${message}${proc === undefined ? '' : ` (log ${proc.logFile})`}`);
  };

  let embedded: RunningPostgres | undefined;
  let pgDir: string | undefined;
  let databaseUrl = options.databaseUrl ?? process.env.DATABASE_URL ?? '';
  if (databaseUrl === '') {
    // Its own temp directory: PostgreSQL (run as another user under root) must traverse it.
    pgDir = await mkdtemp(join(tmpdir(), 'chainnode-chaos-pg-'));
    embedded = await startEmbeddedPostgres({
      dir: pgDir,
      settings: { fsync: 'off', max_connections: '300' },
    });
    databaseUrl = embedded.url;
  }
  say(
    `seed ${seed}, ${options.durationS}s of faults${exclude.size === 0 ? '' : ` (never ${[...exclude].join(', ')})`}; logs in ${logDir}; t=0 is ${new Date(t0).toISOString()}`,
  );
  const jitter = new Prng(seed ^ 0x5bd1e995);
  const cluster = await ChaosCluster.create({
    dir: join(work, 'network'),
    logDir,
    databaseUrl,
    schemaPrefix: `chaos_${randomBytes(3).toString('hex')}`,
    random: () => jitter.float(),
  }).catch(async (e: unknown) => {
    await embedded?.stop();
    throw e;
  });
  const faults: FaultRecord[] = [];
  const load = new Load(cluster, workers, t0, ['kv', 'kv-any']);
  let stopping = false;
  const crashRestarts = new Map<string, number>();

  /** Starts `name` and watches it: an exit the runner did not cause is a crash. */
  const launch = (name: string): NodeProcess => {
    const proc = cluster.start(name);
    children.add(proc);
    proc.onFatal = (line) => {
      violation('crash', `${name} (run ${proc.run}) logged a fatal error: ${line.slice(0, 500)}`, proc);
    };
    void proc.exited.then((status) => {
      children.delete(proc);
      if (proc.expectExit) return;
      violation('crash', `${name} (run ${proc.run}) exited on its own: ${describeExit(status)}`, proc);
      const restarts = (crashRestarts.get(name) ?? 0) + 1;
      crashRestarts.set(name, restarts);
      if (!stopping && restarts <= CRASH_RESTARTS_MAX) {
        setTimeout(() => {
          if (!stopping && cluster.procs.get(name) === proc) launch(name);
        }, 1_000);
      }
    });
    return proc;
  };

  /** Starts `name` again; resolves with how long it took to serve its API. */
  const restart = async (name: string): Promise<number> => {
    const proc = launch(name);
    const startedAt = Date.now();
    try {
      await proc.waitForLine('API listening', READY_TIMEOUT_MS);
    } catch (e) {
      // An exit is reported by the crash watch; a hang is reported here.
      if (proc.running) violation('restart-failed', `${name}: ${(e as Error).message}`, proc);
    }
    return Date.now() - startedAt;
  };

  const waitUntil = async (what: () => Promise<boolean>, timeoutMs: number): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await what()) return true;
      if (Date.now() > deadline) return false;
      await sleep(POLL_MS);
    }
  };

  try {
    // --- Setup: every node, full mesh, the kv contract.
    for (const name of cluster.names) launch(name);
    await Promise.all(
      cluster.names.map((n) => cluster.proc(n).waitForLine('API listening', READY_TIMEOUT_MS)),
    );
    const meshed = await waitUntil(async () => {
      const all = await cluster.statuses(STATUS_TIMEOUT_MS);
      return [...all.values()].every(
        (s) => s !== undefined && s.connectedPeers.length === cluster.names.length - 1,
      );
    }, 60_000);
    if (!meshed) throw new Error('the nodes did not link up within 60 s');
    // The same code twice: `kv` under the network's every-org endorsement policy (a transaction
    // needs both peers), `kv-any` under any-org (it goes on through either peer alone).
    const kv = loadSampleContract('kv').source;
    const anyOrg = { or: cluster.network.config.orgs.map((o) => ({ org: o.name })) };
    const admin = cluster.client(cluster.peers[0] ?? '');
    const first = await admin.deploy('kv', kv);
    const deployed = await admin.deploy('kv-any', kv, { endorsementPolicy: anyOrg });
    for (const d of [first, deployed])
      if (d.validation !== 'VALID') throw new Error(`deploying the contracts: ${d.validation}`);
    const everywhere = await waitUntil(async () => {
      const all = await cluster.statuses(STATUS_TIMEOUT_MS);
      return [...all.values()].every((s) => s !== undefined && s.height >= deployed.height);
    }, 60_000);
    if (!everywhere) throw new Error('the contracts did not reach every node within 60 s');
    say(
      `network up (${cluster.names.join(', ')}), kv and kv-any deployed by height ${deployed.height}; load starts`,
    );

    load.start();
    const warm = await waitUntil(() => Promise.resolve(load.validSince(0) >= 10), 60_000);
    if (!warm) violation('no-progress', 'fewer than 10 transactions acknowledged before any fault');

    // --- Faults, from seeded tracks: the orderers', and one per peer.
    const faultStart = now();
    const deadline = faultStart + options.durationS * 1_000;
    /** Set when a node does not recover: no more faults, straight to the checks. */
    const control = { abort: !warm };
    const aborted = (): boolean => control.abort;

    const currentLeader = async (): Promise<string> => {
      const votes = new Map<string, number>();
      for (const o of cluster.orderers) {
        const leader = (await cluster.status(o, STATUS_TIMEOUT_MS))?.leaderName;
        if (leader !== null && leader !== undefined) votes.set(leader, (votes.get(leader) ?? 0) + 1);
      }
      const best = [...votes].sort((a, b) => b[1] - a[1])[0];
      return best?.[0] ?? cluster.orderers[0] ?? '';
    };

    const execute = async (plan: FaultPlan): Promise<FaultRecord> => {
      const target = plan.target === 'leader' ? await currentLeader() : plan.target;
      const owner = `${plan.track}#${plan.n}`;
      const record: FaultRecord = {
        track: plan.track,
        n: plan.n,
        kind: plan.kind,
        target,
        detail: describePlan(plan, target),
        start: now(),
        healed: -1,
        settled: -1,
        notes: [],
      };
      say(`${owner.padEnd(14)} ${record.detail}`);
      const d = plan.durationMs;
      const links = cluster.linksOf(target);
      /** Imposes each impairment for the fault's duration, then lifts them. */
      const hold = async (impairments: readonly (readonly [FaultProxy, Impairment])[]): Promise<void> => {
        for (const [proxy, impairment] of impairments) proxy.impair(owner, impairment);
        await sleep(d);
        for (const [proxy] of impairments) proxy.release(owner);
      };
      switch (plan.kind) {
        case 'kill':
        case 'kill-leader':
          await cluster.proc(target).stop('SIGKILL');
          await sleep(d);
          record.notes.push(`API back ${await restart(target)} ms after restart`);
          break;
        case 'restart': {
          const proc = cluster.proc(target);
          const stopAt = Date.now();
          const status = await proc.stop('SIGTERM', STOP_TIMEOUT_MS);
          record.notes.push(`exited ${Date.now() - stopAt} ms after SIGTERM`);
          if (status === undefined) {
            violation('unclean-stop', `${target} did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM`, proc);
            await proc.stop('SIGKILL');
          } else if (status.code !== 0) {
            violation('unclean-stop', `${target} stopped on SIGTERM with ${describeExit(status)}`, proc);
          }
          await sleep(d);
          record.notes.push(`API back ${await restart(target)} ms after restart`);
          break;
        }
        case 'pause':
        case 'pause-leader':
          cluster.proc(target).signal('SIGSTOP');
          await sleep(d);
          cluster.proc(target).signal('SIGCONT');
          break;
        case 'timer-stress':
          for (const [stopped, running] of plan.bursts ?? []) {
            cluster.proc(target).signal('SIGSTOP');
            await sleep(stopped);
            cluster.proc(target).signal('SIGCONT');
            await sleep(running);
          }
          break;
        case 'isolate':
        case 'stall':
          await hold(links.map((l) => [l.proxy, { cut: 'both' }]));
          break;
        case 'partition': {
          const side = new Set([target, ...(plan.group ?? [])]);
          const crossing = [...side].flatMap((a) =>
            cluster.names.filter((b) => !side.has(b)).map((b) => cluster.link(a, b).proxy),
          );
          await hold(crossing.map((p) => [p, { cut: 'both' }]));
          break;
        }
        case 'cut-out':
          await hold(links.map((l) => [l.proxy, { cut: l.out }]));
          break;
        case 'cut-in':
          await hold(links.map((l) => [l.proxy, { cut: l.in }]));
          break;
        case 'link-cut':
        case 'link-oneway': {
          const other = plan.other ?? '';
          const { proxy, from } = cluster.link(target, other);
          const cut = plan.direction === undefined ? 'both' : from(plan.direction === 'out' ? target : other);
          await hold([[proxy, { cut }]]);
          break;
        }
        case 'delay':
        case 'link-delay': {
          const chosen =
            plan.other === undefined ? links.map((l) => l.proxy) : [cluster.link(target, plan.other).proxy];
          const delay = { direction: 'both' as const, ms: plan.delayMs ?? 0, jitterMs: plan.jitterMs ?? 0 };
          await hold(chosen.map((p) => [p, { delay }]));
          break;
        }
        case 'reset':
          for (const [wait] of plan.bursts ?? []) {
            await sleep(wait);
            for (const l of links) l.proxy.reset();
          }
          break;
        case 'db-down':
        case 'db-stall': {
          const relay = cluster.dbProxies.get(target);
          if (relay !== undefined)
            await hold([[relay, plan.kind === 'db-down' ? { refuse: true } : { cut: 'both' }]]);
          break;
        }
        default: {
          const unreachable: never = plan.kind;
          throw new Error(`unknown fault ${String(unreachable)}`);
        }
      }
      record.healed = now();
      return record;
    };

    /**
     * Waits until `target` has recovered from its fault: running and answering, at the height the
     * others held when the fault healed, and linked to every other orderer (a peer: to at least
     * 2f+1 of them). After an orderer fault, also until every orderer is in the same view: an
     * orderer left alone in another view does not vote, so it is faulty, and the next orderer
     * fault would be a second one. Returns what is still wrong on timeout.
     */
    const settle = async (
      target: string,
      track: Track,
    ): Promise<{ kind: ViolationKind; problem: string; blame: string } | undefined> => {
      const before = await cluster.statuses(STATUS_TIMEOUT_MS);
      const h0 = Math.max(
        0,
        ...[...before].filter(([n, s]) => n !== target && s !== undefined).map(([, s]) => s?.height ?? 0),
      );
      let problem = '';
      let kind: ViolationKind = 'no-recovery';
      let blame = target;
      const ok = await waitUntil(async () => {
        const all = await cluster.statuses(STATUS_TIMEOUT_MS);
        const last = all.get(target);
        kind = 'no-recovery';
        blame = target;
        if (last === undefined) {
          problem = `${target} does not answer /status`;
          return false;
        }
        if (last.height < h0) {
          problem = `${target} at height ${last.height}, the others were at ${h0} when the fault healed`;
          return false;
        }
        const linked = last.connectedPeers.filter((p) => cluster.isOrderer(p));
        if (track.role === 'orderer') {
          const missing = cluster.orderers.filter((o) => o !== target && !linked.includes(o));
          if (missing.length > 0) {
            problem = `${target} not linked to ${missing.join(', ')}`;
            return false;
          }
          const views = cluster.orderers.map((o) => all.get(o)?.view);
          if (new Set(views).size !== 1 || views.some((v) => v === undefined || v === null)) {
            // Blame (and show the log of) an orderer outside the view most of them are in.
            const count = (v: unknown): number => views.filter((w) => w === v).length;
            const majority = [...views].sort((a, b) => count(b) - count(a))[0];
            kind = 'view-split';
            blame = cluster.orderers.find((o) => all.get(o)?.view !== majority) ?? target;
            problem = `the orderers are not in one view: ${cluster.orderers
              .map((o) => {
                const s = all.get(o);
                return s === undefined ? `${o} no answer` : `${o} view ${s.view ?? '?'} height ${s.height}`;
              })
              .join(', ')}`;
            return false;
          }
        } else if (linked.length < cluster.orderers.length - 1) {
          problem = `${target} linked to ${linked.length} orderers only`;
          return false;
        }
        return true;
      }, settleTimeoutMs);
      return ok ? undefined : { kind, problem, blame };
    };

    const runTrack = async (track: Track, index: number): Promise<void> => {
      const prng = new Prng((seed + Math.imul(index, 0x9e3779b9)) >>> 0);
      for (let n = 1; !aborted() && now() < deadline; n++) {
        const plan = nextPlan(prng, track, n, cluster, exclude);
        await sleep(plan.gapMs);
        if (aborted() || now() >= deadline) break;
        const record = await execute(plan);
        faults.push(record);
        const problem = await settle(record.target, track);
        record.settled = now();
        const label = `${track.name}#${n}`;
        if (record.notes.length > 0 || record.settled - record.healed > 5_000) {
          const caughtUp = `caught up ${record.settled - record.healed} ms after the heal`;
          say(`${label.padEnd(14)} ${[...record.notes, caughtUp].join(', ')}`);
        }
        if (problem !== undefined) {
          violation(
            problem.kind,
            `no recovery within ${settleTimeoutMs} ms after ${label} (${record.detail}) healed at t=${record.healed} ms: ${problem.problem}`,
            cluster.procs.get(problem.blame),
          );
          control.abort = true;
        }
      }
    };
    const tracks: Track[] = [
      { name: 'orderers', role: 'orderer', targets: cluster.orderers },
      ...cluster.peers.map((p) => ({ name: p, role: 'peer' as const, targets: [p] })),
    ];
    if (!control.abort) await Promise.all(tracks.map(runTrack));

    // --- Heal everything, check progress resumes, stop the load, let the heads converge.
    cluster.healNetwork();
    for (const name of cluster.names) {
      const proc = cluster.proc(name);
      if (proc.running) proc.signal('SIGCONT');
      else await restart(name);
    }
    const healedAt = now();
    say(`${faults.length} faults injected; all healed, waiting for progress and convergence`);
    const progressed = await waitUntil(
      () => Promise.resolve(load.validSince(healedAt) >= 5),
      PROGRESS_TIMEOUT_MS,
    );
    if (!progressed)
      violation(
        'no-progress',
        `fewer than 5 transactions acknowledged within ${PROGRESS_TIMEOUT_MS} ms after the last heal`,
      );
    await load.stop();
    let heads = new Map<string, NodeStatus | undefined>();
    const converged = await waitUntil(async () => {
      heads = await cluster.statuses(STATUS_TIMEOUT_MS);
      const seen = new Set(
        [...heads.values()].map((s) => (s === undefined ? 'none' : `${s.height}:${s.headHash}`)),
      );
      return seen.size === 1 && !seen.has('none');
    }, convergeTimeoutMs);
    const convergeMs = converged ? now() - healedAt : null;
    if (!converged) {
      const shown = [...heads].map(
        ([n, s]) => `${n}=${s === undefined ? 'no answer' : `${s.height}:${s.headHash.slice(0, 8)}`}`,
      );
      violation(
        'no-convergence',
        `heads differ ${convergeTimeoutMs} ms after the last heal: ${shown.join(' ')}`,
      );
    }

    // --- Stop every node cleanly, then check the chains and verify every database.
    stopping = true;
    for (const name of cluster.names) {
      const proc = cluster.proc(name);
      if (!proc.running) continue;
      const status = await proc.stop('SIGTERM', STOP_TIMEOUT_MS);
      if (status === undefined) {
        violation('unclean-stop', `${name} did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM`, proc);
        await proc.stop('SIGKILL');
      } else if (status.code !== 0) {
        violation('unclean-stop', `${name} stopped on SIGTERM with ${describeExit(status)}`, proc);
      }
    }
    const ledger = await checkLedgers({
      databaseUrl,
      schemas: cluster.schemas,
      peers: cluster.peers,
      ops: load.ops,
    });
    for (const v of ledger.violations) violation(v.kind, v.message);
    for (const [name, schema] of cluster.schemas) {
      const result = await runChainnode(['verify', '--schema', schema, '--json'], {
        DATABASE_URL: databaseUrl,
      });
      let reports: { ok?: boolean; problem?: string; height?: number }[] = [];
      try {
        reports = JSON.parse(result.stdout) as typeof reports;
      } catch {
        // reported below
      }
      const bad = reports.find((r) => r.ok !== true);
      if (result.code !== 0 || reports.length === 0 || bad !== undefined) {
        violation(
          'verify',
          `chainnode verify --schema ${schema} (${name}): exit ${result.code}, ${bad === undefined ? result.stderr.trim().slice(0, 300) : `height ${bad.height ?? '?'}: ${bad.problem ?? '?'}`}`,
        );
      }
    }

    const ops = load.ops;
    const acked = ops.filter((o) => o.outcome === 'ok');
    const byKind: Partial<Record<FaultKind, number>> = {};
    for (const f of faults) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
    const summary: ChaosSummary = {
      seed,
      startedAtMs: t0,
      durationS: options.durationS,
      workers,
      excluded: [...exclude],
      faults: { total: faults.length, byKind },
      tx: {
        attempted: ops.length,
        acknowledged: acked.length,
        acknowledgedValid: acked.filter((o) => o.validation === 'VALID').length,
        validByContract: Object.fromEntries(
          ['kv', 'kv-any'].map((c) => [
            c,
            acked.filter((o) => o.contract === c && o.validation === 'VALID').length,
          ]),
        ),
        failed: ops.length - acked.length,
        failedEndorsing: ops.filter((o) => o.outcome === 'error' && o.phase === 'endorse').length,
        failedButCommitted: ledger.failedButCommitted,
        lost: ledger.lost,
        duplicates: ledger.duplicates,
      },
      forks: ledger.forks,
      convergeMs,
      heights: ledger.heights,
      violations,
      logDir,
      wallS: Math.round(now() / 1000),
    };
    await writeFile(join(logDir, 'ops.jsonl'), ops.map((o) => JSON.stringify(o)).join('\n') + '\n');
    await writeFile(join(logDir, 'faults.jsonl'), faults.map((f) => JSON.stringify(f)).join('\n') + '\n');
    await writeFile(join(logDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    return summary;
  } catch (e) {
    violation('runner', `the run could not complete: ${(e as Error).stack ?? String(e)}`);
    throw e;
  } finally {
    stopping = true;
    await load.stop().catch(() => undefined);
    await cluster.close().catch(() => undefined);
    if (violations.length === 0) {
      await dropSchemas(databaseUrl, [...cluster.schemas.values()]).catch(() => undefined);
    }
    await embedded?.stop().catch(() => undefined);
    // A failed run keeps the network directory and the embedded database for a post-mortem.
    if (violations.length === 0) {
      await rm(work, { recursive: true, force: true });
      if (pgDir !== undefined) await rm(pgDir, { recursive: true, force: true });
    } else {
      say(`network directory kept in ${work}${pgDir === undefined ? '' : `, database in ${pgDir}`}`);
    }
  }
}

async function dropSchemas(url: string, schemas: readonly string[]): Promise<void> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    for (const s of schemas) await db.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } finally {
    await db.end();
  }
}

/** The summary as tables, then every violation with its log excerpt, then how to replay. */
export function formatSummary(summary: ChaosSummary): string {
  const plain = { head: [], border: [] };
  const faults = new Table({ head: ['fault', 'injected'], style: plain });
  for (const kind of FAULT_KINDS) {
    const n = summary.faults.byKind[kind];
    if (n !== undefined) faults.push([kind, n]);
  }
  faults.push(['total', summary.faults.total]);
  const result = new Table({ head: ['check', 'result'], style: plain });
  const t = summary.tx;
  result.push(
    ['tx attempted', t.attempted],
    [
      'tx acknowledged',
      `${t.acknowledged} (${t.acknowledgedValid} VALID: ${Object.entries(t.validByContract)
        .map(([c, n]) => `${c} ${n}`)
        .join(', ')})`,
    ],
    [
      'tx failed (not acknowledged)',
      `${t.failed} (${t.failedEndorsing} before submit; ${t.failedButCommitted} committed anyway)`,
    ],
    ['tx lost', t.lost],
    ['duplicates flagged', t.duplicates],
    ['forks', summary.forks],
    [
      'time to converge',
      summary.convergeMs === null ? 'never' : `${(summary.convergeMs / 1000).toFixed(1)} s`,
    ],
    [
      'heights',
      Object.entries(summary.heights)
        .map(([n, h]) => `${n}=${h}`)
        .join(' '),
    ],
    ['violations', summary.violations.length],
    ['wall time', `${summary.wallS} s`],
  );
  const lines = [faults.toString(), result.toString()];
  for (const v of summary.violations) {
    lines.push(`VIOLATION ${v.kind}: ${v.message}`);
    if (v.log !== undefined) lines.push(`  log: ${v.log}`);
    if (v.excerpt !== undefined)
      lines.push(
        v.excerpt
          .split('\n')
          .map((l) => `  | ${l.slice(0, 400)}`)
          .join('\n'),
      );
  }
  lines.push(`logs: ${summary.logDir}`);
  if (summary.excluded.length > 0) lines.push(`faults never drawn: ${summary.excluded.join(', ')}`);
  lines.push(
    `${summary.violations.length === 0 ? 'PASS' : 'FAIL'} seed ${summary.seed}; replay: ${replayCommand(summary)}`,
  );
  return lines.join('\n');
}

/** The command line that replays a run's schedule. */
export function replayCommand(
  summary: Pick<ChaosSummary, 'seed' | 'durationS' | 'workers' | 'excluded'>,
): string {
  const args = [`--duration ${summary.durationS}`, `--seed ${summary.seed}`];
  if (summary.workers !== 4) args.push(`--workers ${summary.workers}`);
  if (summary.excluded.length > 0) args.push(`--exclude ${summary.excluded.join(',')}`);
  return `npm run chaos -- ${args.join(' ')}`;
}
