import { randomBytes } from 'node:crypto';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { benchContracts } from '../contracts/bench.js';
import { loadSampleContract } from '../contracts/index.js';
import { readNodeIdentity, readUserIdentity } from '../config/index.js';
import { SigningKey } from '../crypto/index.js';
import { planOrgs } from '../peer/index.js';
import {
  canonicalBytes,
  faultTolerance,
  formatPolicy,
  sha256Hex,
  type PolicyExpr,
} from '../protocol/index.js';
import { ClientError, signProposal, signTransaction, type ClientIdentity } from '../sdk/index.js';
import { invokeEnvelope, type Signer } from '../workload/index.js';
import { benchCrypto } from './crypto.js';
import { GatewayClient } from './gateway.js';
import { benchLedger } from './ledger.js';
import { physicalLimit, signatureCount, type PhysicalLimit, type SignatureCount } from './limits.js';
import {
  BlockTracker,
  measureIdle,
  now,
  runLoad,
  type IdleUsage,
  type RunResult,
  type RunSpec,
  type Transactor,
} from './load.js';
import { startTemporaryNetwork, targetNetwork, type BenchNetwork } from './network.js';
import { treeCpuSeconds } from './proc.js';
import { clientSteps, peakReached, round, type Distribution } from './stats.js';
import { benchCall, type BenchContract } from './workload.js';

export const RESULT_SCHEMA = 'chainnode-bench/1';

export interface BenchOptions {
  readonly target:
    | {
        readonly kind: 'temporary';
        readonly orderers: number;
        readonly orgs: number;
        readonly peersPerOrg: number;
        readonly host: string;
        readonly basePort: number;
        readonly keep: boolean;
      }
    | { readonly kind: 'existing'; readonly dir: string };
  /** Endorsement policy of the benchmark contract; null: the network's default. */
  readonly policy: PolicyExpr | null;
  readonly contract: BenchContract;
  readonly payloadBytes: number;
  /** full: endorse + order + validate. order: pre-endorsed kv writes, only ordering and validation. */
  readonly mode: 'full' | 'order';
  /** Closed loop: a fixed number of clients, a search for the peak, or none. */
  readonly closed:
    | { readonly clients: number }
    | { readonly search: { readonly from: number; readonly max: number; readonly stepSeconds: number } }
    | null;
  /** Open loop at this offered rate; 'auto': 80 % of the closed-loop peak. */
  readonly open: { readonly rate: number | 'auto'; readonly arrival: 'uniform' | 'poisson' } | null;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  readonly maxInFlight: number;
  /** Measure the bounds (sign/verify, SHA-256, contract calls, PostgreSQL commits) and the physical limit. */
  readonly micro: boolean;
  readonly signal?: AbortSignal;
  readonly log?: (line: string) => void;
  readonly progress?: (label: string, done: number, total: number) => void;
}

export interface RunRecord extends RunResult {
  /** search: a step of the closed-loop peak search; closed: the headline closed-loop run; open. */
  readonly label: 'search' | 'closed' | 'open';
}

export interface BenchBounds {
  readonly cores: number;
  readonly signPerSec: number;
  readonly verifyPerSec: number;
  readonly sha256MbPerSec: number;
  readonly contractCallsPerSec: number;
  /**
   * Durable block commits into the network's PostgreSQL at the run's block size: one writer's
   * sequential rate (fsync-bound), and the CPU (writer + PostgreSQL) per transaction stored.
   */
  readonly ledger: {
    readonly txPerBlock: number;
    readonly txPerSec: number;
    readonly cpuMsPerTx: number | null;
  } | null;
}

export interface BenchResult {
  readonly schema: typeof RESULT_SCHEMA;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly wallSeconds: number;
  readonly machine: {
    readonly cores: number;
    readonly cpuModel: string;
    readonly memoryGb: number;
    readonly node: string;
    readonly kernel: string;
    /** 1, 5 and 15 minute load averages when the benchmark started and when it ended. */
    readonly loadAverage: readonly number[];
    readonly loadAverageAtEnd: readonly number[];
  };
  readonly network: {
    readonly temporary: boolean;
    readonly dir: string | null;
    readonly orderers: number;
    readonly orgs: number;
    readonly peers: number;
    readonly faultTolerance: number;
    readonly consensus: Record<string, number>;
  };
  readonly workload: {
    readonly contract: BenchContract;
    readonly deployedAs: string;
    readonly payloadBytes: number;
    readonly mode: 'full' | 'order';
    readonly policy: string;
    readonly endorsingOrgs: number;
    readonly gateways: readonly string[];
  };
  /** The headline: the closed-loop peak run (else the open-loop run). tx/s and ms. */
  readonly headline: 'closed' | 'open';
  readonly tps: number;
  readonly invalidTps: number;
  readonly blocksPerSec: number;
  readonly latency: Distribution;
  readonly phases: RunResult['phases'];
  readonly peak: { readonly clients: number; readonly tps: number } | null;
  /** CPU with no load, measured before the runs. */
  readonly idle: IdleUsage;
  readonly closed: RunRecord | null;
  readonly open: RunRecord | null;
  readonly runs: readonly RunRecord[];
  readonly bounds: BenchBounds | null;
  readonly limit:
    (PhysicalLimit & { readonly signatures: SignatureCount; readonly achievedRatio: number }) | null;
}

/** How long the idle network's CPU is measured before the load (at most half a run's window). */
const IDLE_MS = 3_000;
/** Transactions allowed to wait for their commit after a window closes (the gateway gives up after 30 s). */
const DRAIN_MS = 45_000;

/**
 * The whole benchmark: a network (started, or targeted), the contract deployed under the
 * policy, closed-loop runs (a search for the peak, then the peak measured for the full
 * duration), an open-loop run, the micro-benchmarks of the bounds, and the physical limit.
 */
export async function runBenchmark(options: BenchOptions): Promise<BenchResult> {
  const startedAt = new Date();
  const loadAverage = loadavg().map((v) => round(v, 2));
  const log = options.log ?? (() => undefined);
  const aborted = (): boolean => options.signal?.aborted === true;
  const t = options.target;
  if (t.kind === 'temporary')
    log(
      `starting a network: ${t.orderers} orderers, ${t.orgs} orgs × ${t.peersPerOrg} peers on ${t.host}:${t.basePort}`,
    );
  const net: BenchNetwork =
    t.kind === 'temporary'
      ? await startTemporaryNetwork({
          ...t,
          onProgress: (up, total) => options.progress?.('starting nodes', up, total),
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        })
      : await targetNetwork(t.dir);
  const tracker = new BlockTracker();
  const gateways: GatewayClient[] = [];
  try {
    const { config } = net.network;
    const orgNames = config.orgs.map((o) => o.name);
    const policy = options.policy ?? config.policies.endorsement;
    const firstOrg = orgNames[0] ?? 'org1';
    const endorsingOrgs = planOrgs(policy, orgNames, firstOrg);
    const deployedAs = await deploy(net, options.contract, options.policy, firstOrg, log);

    // Load goes to every peer's gateway in turn, as that peer's organisation's client.
    const peers = config.peers;
    const identities = new Map<string, ClientIdentity>();
    for (const org of orgNames) {
      const u = await readUserIdentity(net.dir, org, 'client');
      identities.set(org, {
        identity: { org, cert: u.certPem },
        key: SigningKey.fromPem(u.keyPem),
      });
    }
    const caCerts = config.orgs.flatMap((o) => o.caCerts);
    for (const p of peers) {
      const u = await readUserIdentity(net.dir, p.org, 'client');
      gateways.push(
        new GatewayClient({
          url: `https://${p.host}:${String(p.apiPort)}`,
          certPem: u.certPem,
          keyPem: u.keyPem,
          caCerts,
        }),
      );
    }
    const runId = randomBytes(4).toString('hex');
    const transact = await transactor(net, options, deployedAs, endorsingOrgs, identities, gateways, runId);
    tracker.start(await Promise.all(config.orderers.map((o) => net.client(o.name, firstOrg, 'client'))));
    const ctx = {
      transact,
      nodes: net.nodes,
      postgresPid: net.postgresPid,
      tracker,
      cores: availableParallelism(),
    };
    // The network's CPU floor with no load (blocks from the deployment are long final by now).
    const idle = await measureIdle(
      net.nodes,
      net.postgresPid,
      Math.min(IDLE_MS, (options.durationSeconds * 1000) / 2),
    );
    const runs: RunRecord[] = [];
    const run = async (
      label: RunRecord['label'],
      spec: RunSpec,
      durationSeconds: number,
    ): Promise<RunRecord> => {
      const name =
        spec.kind === 'closed' ? `closed, ${spec.clients} clients` : `open, ${spec.ratePerSec} tx/s offered`;
      log(
        `${label === 'search' ? 'search: ' : ''}${name}: ${options.warmupSeconds} s warm-up, ${durationSeconds} s measured`,
      );
      const r = await runLoad(ctx, spec, {
        warmupMs: options.warmupSeconds * 1000,
        durationMs: durationSeconds * 1000,
        drainMs: DRAIN_MS,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        onProgress: (done, total) =>
          options.progress?.(name, Math.round(done / 1000), Math.round(total / 1000)),
      });
      const record: RunRecord = { label, ...r };
      runs.push(record);
      log(
        `  ${r.tps} tx/s committed, ${r.invalidTps} invalid/s, ${r.errors} errors; p50 ${r.latency.p50 ?? '-'} ms, p99 ${r.latency.p99 ?? '-'} ms`,
      );
      return record;
    };

    let closed: RunRecord | null = null;
    let peak: { clients: number; tps: number } | null = null;
    if (options.closed !== null && 'clients' in options.closed) {
      closed = await run(
        'closed',
        { kind: 'closed', clients: options.closed.clients },
        options.durationSeconds,
      );
      peak = { clients: options.closed.clients, tps: closed.tps };
    } else if (options.closed !== null) {
      const { from, max, stepSeconds } = options.closed.search;
      const steps: RunRecord[] = [];
      for (const clients of clientSteps(from, max)) {
        if (aborted()) break;
        steps.push(await run('search', { kind: 'closed', clients }, stepSeconds));
        if (peakReached(steps.map((s) => s.tps))) break;
      }
      const best = steps.reduce<RunRecord | undefined>(
        (b, s) => (b === undefined || s.tps > b.tps ? s : b),
        undefined,
      );
      if (best !== undefined && best.clients !== null && !aborted()) {
        // The peak, measured again for the full duration: the search steps are short.
        closed =
          stepSeconds >= options.durationSeconds
            ? { ...best, label: 'closed' }
            : await run('closed', { kind: 'closed', clients: best.clients }, options.durationSeconds);
        peak = { clients: best.clients, tps: closed.tps };
      }
    }

    let open: RunRecord | null = null;
    if (options.open !== null && !aborted()) {
      const rate =
        options.open.rate === 'auto' ? Math.max(1, Math.round(0.8 * (peak?.tps ?? 0))) : options.open.rate;
      open = await run(
        'open',
        { kind: 'open', ratePerSec: rate, arrival: options.open.arrival, maxInFlight: options.maxInFlight },
        options.durationSeconds,
      );
    }
    const headlineRun = closed ?? open;
    if (headlineRun === null) throw new Error('the benchmark was interrupted before any run finished');

    let bounds: BenchBounds | null = null;
    let limit: BenchResult['limit'] = null;
    if (options.micro && !aborted()) {
      const txPerBlock = Math.min(500, Math.max(1, Math.round(headlineRun.txPerBlock ?? 1)));
      bounds = await measureBounds(net, txPerBlock, log, options.progress);
      const topology = {
        orderers: config.orderers.length,
        peers: peers.length,
        endorsements: endorsingOrgs.length,
        preEndorsed: options.mode === 'order',
      };
      const l = physicalLimit(
        topology,
        {
          cores: bounds.cores,
          signPerSec: bounds.signPerSec,
          verifyPerSec: bounds.verifyPerSec,
          contractCallsPerSec: bounds.contractCallsPerSec,
          ledgerCpuMsPerTx: bounds.ledger?.cpuMsPerTx ?? null,
        },
        headlineRun.txPerBlock ?? 1,
      );
      limit = {
        ...roundLimit(l),
        signatures: signatureCount(topology),
        achievedRatio: round(headlineRun.tps / l.tps, 3),
      };
    }

    const finishedAt = new Date();
    return {
      schema: RESULT_SCHEMA,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      wallSeconds: round((finishedAt.getTime() - startedAt.getTime()) / 1000),
      machine: {
        cores: availableParallelism(),
        cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
        memoryGb: round(totalmem() / 2 ** 30),
        node: process.version,
        kernel: release(),
        loadAverage,
        loadAverageAtEnd: loadavg().map((v) => round(v, 2)),
      },
      network: {
        temporary: net.temporary,
        dir: net.temporary && t.kind === 'temporary' && !t.keep ? null : net.dir,
        orderers: config.orderers.length,
        orgs: config.orgs.length,
        peers: peers.length,
        faultTolerance: faultTolerance(config.orderers.length),
        consensus: { ...config.consensus },
      },
      workload: {
        contract: options.contract,
        deployedAs,
        payloadBytes: options.contract === 'trade' ? 0 : options.payloadBytes,
        mode: options.mode,
        policy: formatPolicy(policy),
        endorsingOrgs: endorsingOrgs.length,
        gateways: peers.map((p) => p.name),
      },
      headline: closed !== null ? 'closed' : 'open',
      tps: headlineRun.tps,
      invalidTps: headlineRun.invalidTps,
      blocksPerSec: headlineRun.blocksPerSec,
      latency: headlineRun.latency,
      phases: headlineRun.phases,
      peak,
      idle,
      closed,
      open,
      runs,
      bounds,
      limit,
    };
  } finally {
    await tracker.stop();
    for (const g of gateways) g.close();
    if (net.temporary) log('stopping the network');
    await net.stop();
  }
}

function roundLimit(l: PhysicalLimit): PhysicalLimit {
  return {
    ...l,
    txPerBlock: round(l.txPerBlock),
    signsPerTx: round(l.signsPerTx, 2),
    verifiesPerTx: round(l.verifiesPerTx, 2),
    cryptoCpuMsPerTx: round(l.cryptoCpuMsPerTx, 3),
    contractCpuMsPerTx: round(l.contractCpuMsPerTx, 3),
    ledgerCpuMsPerTx: l.ledgerCpuMsPerTx === null ? null : round(l.ledgerCpuMsPerTx, 3),
    cpuMsPerTx: round(l.cpuMsPerTx, 3),
    signatureBoundTps: round(l.signatureBoundTps),
    tps: round(l.tps),
  };
}

/**
 * Deploys the sample under `policy`. A temporary network gets it under its own name; on an
 * existing network a custom policy goes under a name of its own (`kv-p<hash>`), so the shipped
 * samples keep theirs. Already deployed is fine.
 */
async function deploy(
  net: BenchNetwork,
  contract: BenchContract,
  policy: PolicyExpr | null,
  org: string,
  log: (line: string) => void,
): Promise<string> {
  const name =
    net.temporary || policy === null
      ? contract
      : `${contract}-p${sha256Hex(canonicalBytes(policy)).slice(0, 10)}`;
  const peer = net.network.config.peers.find((p) => p.org === org) ?? net.network.config.peers[0];
  if (peer === undefined) throw new Error('the network has no peer');
  const admin = await net.client(peer.name, org, 'admin');
  try {
    await admin.deploy(name, loadSampleContract(contract).source, {
      version: '1',
      ...(policy === null ? {} : { endorsementPolicy: policy }),
    });
    log(`deployed ${contract} as ${name}${policy === null ? '' : ` under ${formatPolicy(policy)}`}`);
  } catch (e) {
    if (!(e instanceof ClientError && /already deployed/.test(e.message))) throw e;
  } finally {
    admin.close();
  }
  return name;
}

/** How one transaction is made and sent, for the mode. */
async function transactor(
  net: BenchNetwork,
  options: BenchOptions,
  deployedAs: string,
  endorsingOrgs: readonly string[],
  identities: ReadonlyMap<string, ClientIdentity>,
  gateways: readonly GatewayClient[],
  runId: string,
): Promise<Transactor> {
  const { config } = net.network;
  const gatewayOrg = config.peers.map((p) => p.org);
  const identityOf = (i: number): ClientIdentity => identities.get(gatewayOrg[i] ?? '') as ClientIdentity;
  if (options.mode === 'full') {
    return async (seq, trace) => {
      const i = seq % gateways.length;
      const gw = gateways[i] as GatewayClient;
      const me = identityOf(i);
      const call = benchCall(options.contract, deployedAs, `b-${runId}-${seq}`, options.payloadBytes, seq);
      const proposal = signProposal(me, call);
      const payload = await gw.endorse(proposal);
      trace.endorsedAt = now();
      const envelope = signTransaction(me, proposal, payload);
      trace.submittedAt = now();
      const outcome = await gw.submit(envelope);
      trace.validation = outcome.validation;
      trace.height = outcome.height;
    };
  }
  if (options.contract !== 'kv') throw new Error('--mode order writes kv entries: use --contract kv');
  // Pre-endorsed: one peer of each organisation the policy needs signs the response here.
  const endorsers: Signer[] = await Promise.all(
    endorsingOrgs.map(async (org) => {
      const p = config.peers.find((x) => x.org === org);
      if (p === undefined) throw new Error(`org ${org} has no peer to endorse`);
      const files = await readNodeIdentity(net.dir, config, p.name);
      return { identity: { org: p.org, cert: p.cert }, key: SigningKey.fromPem(files.keyPem) };
    }),
  );
  const value = 'x'.repeat(options.payloadBytes);
  return async (seq, trace) => {
    const i = seq % gateways.length;
    const key = `b-${runId}-${seq}`;
    const envelope = invokeEnvelope(identityOf(i), endorsers, {
      contract: deployedAs,
      fn: 'put',
      args: [key, value],
      outcome: () => ({
        rwset: {
          reads: [],
          writes: [{ ns: deployedAs, key, value: Buffer.from(JSON.stringify(value)).toString('base64') }],
        },
        result: 'null',
      }),
    });
    trace.submittedAt = now();
    const outcome = await (gateways[i] as GatewayClient).submit(envelope);
    trace.validation = outcome.validation;
    trace.height = outcome.height;
  };
}

/** The single-core rates the limit is made of, and PostgreSQL commits at the run's block size. */
async function measureBounds(
  net: BenchNetwork,
  txPerBlock: number,
  log: (line: string) => void,
  progress?: (label: string, done: number, total: number) => void,
): Promise<BenchBounds> {
  log('micro-benchmarks of the bounds: ECDSA, SHA-256, contract calls, PostgreSQL commits');
  const crypto = benchCrypto({ operations: 5_000 });
  const contracts = await benchContracts();
  let ledger: BenchBounds['ledger'] = null;
  if (net.databaseUrl !== '') {
    // On the network's own PostgreSQL (idle now), in a schema of its own, dropped afterwards.
    const pgBefore = net.postgresPid === null ? null : await treeCpuSeconds(net.postgresPid);
    const rows = await benchLedger({
      databaseUrl: net.databaseUrl,
      txPerBlock: [txPerBlock],
      txPerRun: Math.min(5_000, Math.max(100, txPerBlock * 40)),
      onProgress: (label, done, total) => progress?.(label, done, total),
    });
    const pgAfter = net.postgresPid === null ? null : await treeCpuSeconds(net.postgresPid);
    const row = rows[0];
    if (row !== undefined) {
      const stored = row.blocks * row.txPerBlock;
      ledger = {
        txPerBlock,
        txPerSec: round(row.txPerSec),
        cpuMsPerTx:
          pgBefore === null || pgAfter === null
            ? null
            : round((1000 * (row.clientCpuSeconds + pgAfter - pgBefore)) / stored, 3),
      };
    }
  }
  return {
    cores: availableParallelism(),
    signPerSec: round(crypto.signPerSec, 0),
    verifyPerSec: round(crypto.verifyPerSec, 0),
    sha256MbPerSec: round(crypto.sha256MbPerSec, 0),
    contractCallsPerSec: contracts.callsPerSec,
    ledger,
  };
}
