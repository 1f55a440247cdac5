import { table } from '../cli/output.js';
import type { BenchResult, RunRecord } from './harness.js';
import type { Distribution } from './stats.js';

const ms = (v: number | null): string => (v === null ? '-' : String(v));
const num = (v: number | null | undefined, digits = 1): string =>
  v === null || v === undefined ? '-' : String(Math.round(v * 10 ** digits) / 10 ** digits);

const idlePct = (v: number | null | undefined): string =>
  v === null || v === undefined ? '-' : `${Math.round(v)}%`;
const pct = (v: number | null): string => (v === null ? '-' : `${Math.round(v * 100)}%`);

function runName(r: RunRecord): string {
  if (r.kind === 'closed') return `${r.label === 'search' ? 'search' : 'closed'} ${r.clients ?? '?'} clients`;
  return `open ${r.offeredTps ?? '?'} tx/s${r.arrival === 'poisson' ? ' (poisson)' : ''}`;
}

/** The human report: runs, phases, per-node cost, bounds and the physical limit. */
export function renderReport(r: BenchResult): string {
  const out: string[] = [];
  const w = r.workload;
  out.push(
    `${r.network.temporary ? 'temporary' : 'existing'} network: ${r.network.orderers} orderers (f=${r.network.faultTolerance}), ${r.network.orgs} orgs, ${r.network.peers} peers; ` +
      `${w.contract}${w.deployedAs === w.contract ? '' : ` (as ${w.deployedAs})`}, ${w.payloadBytes} B payload, mode ${w.mode}, policy ${w.policy} (${w.endorsingOrgs} endorsement${w.endorsingOrgs === 1 ? '' : 's'}/tx); ` +
      `${r.machine.cores} cores, ${r.machine.cpuModel}`,
  );
  out.push(
    table(
      [
        'run',
        'committed tx/s',
        'invalid tx/s',
        'errors',
        'blocks/s',
        'tx/block',
        'p50 ms',
        'p90 ms',
        'p99 ms',
        'max ms',
        'CPU ours / machine',
      ],
      r.runs.map((run) => [
        runName(run),
        num(run.tps),
        num(run.invalidTps),
        run.errors + run.unfinished + run.shed,
        `${num(run.blocksPerSec)}${run.viewChanges !== null && run.viewChanges > 0 ? ` (${run.viewChanges} view chg)` : ''}`,
        num(run.txPerBlock),
        ms(run.latency.p50),
        ms(run.latency.p90),
        ms(run.latency.p99),
        ms(run.latency.max),
        `${pct(run.machineCpuUtilisation)} / ${pct(run.machineCpuBusy)}`,
      ]),
    ),
  );
  const contended = r.runs.filter(
    (run) =>
      run.machineCpuBusy !== null &&
      run.machineCpuUtilisation !== null &&
      run.machineCpuBusy - run.machineCpuUtilisation > 0.15,
  );
  if (contended.length > 0)
    out.push(
      `WARNING: other processes kept the cores busy during ${contended.length} of ${r.runs.length} runs (up to ${pct(Math.max(...contended.map((run) => (run.machineCpuBusy ?? 0) - (run.machineCpuUtilisation ?? 0))))} of the machine; load average ${r.machine.loadAverage.join(', ')} at the start): these figures are not this network's alone.`,
    );
  const shown = [r.closed, r.open].filter((x): x is RunRecord => x !== null);
  const phaseRow = (label: string, pick: (run: RunRecord) => Distribution): (string | number)[] => [
    label,
    ...shown.flatMap((run) => {
      const d = pick(run);
      return [ms(d.p50), ms(d.p99)];
    }),
  ];
  out.push(
    table(
      ['phase (ms)', ...shown.flatMap((run) => [`${runName(run)} p50`, 'p99'])],
      [
        phaseRow('endorse', (x) => x.phases.endorse),
        phaseRow('order', (x) => x.phases.order),
        phaseRow('  batch wait', (x) => x.phases.batchWait),
        phaseRow('  consensus', (x) => x.phases.consensus),
        phaseRow('validate+commit', (x) => x.phases.commit),
        phaseRow('generator lag', (x) => x.phases.generatorLag),
        phaseRow('total', (x) => x.latency),
      ],
    ),
  );
  const head = r.closed ?? r.open;
  if (head !== null) {
    const rows: (string | number)[][] = Object.entries(head.nodes).map(([name, n]) => [
      name,
      n.role,
      num(n.cpuSeconds, 2),
      n.cpuPercent === null ? '-' : `${Math.round(n.cpuPercent)}%`,
      idlePct(r.idle.nodes[name]),
      num(n.cpuMsPerTx, 2),
      num(n.peakRssMb, 0),
    ]);
    if (head.postgres !== null)
      rows.push([
        'postgres',
        'all nodes',
        num(head.postgres.cpuSeconds, 2),
        head.postgres.cpuPercent === null ? '-' : `${Math.round(head.postgres.cpuPercent)}%`,
        idlePct(r.idle.postgres),
        head.postgres.cpuSeconds === null || head.committed === 0
          ? '-'
          : num((1000 * head.postgres.cpuSeconds) / head.committed, 2),
        '-',
      ]);
    rows.push([
      'load generator',
      'this process',
      num(head.client.cpuSeconds, 2),
      `${Math.round(head.client.cpuPercent)}%`,
      '-',
      head.committed === 0 ? '-' : num((1000 * head.client.cpuSeconds) / head.committed, 2),
      num(process.memoryUsage().rss / 2 ** 20, 0),
    ]);
    out.push(
      table(
        [
          `${runName(head)}: process`,
          'role',
          'CPU s',
          'CPU (1 core)',
          'idle CPU',
          'CPU ms/tx',
          'peak RSS MB',
        ],
        rows,
      ),
    );
  }
  if (r.bounds !== null && r.limit !== null) {
    const b = r.bounds;
    const l = r.limit;
    out.push(
      table(
        ['bound (one core)', 'rate'],
        [
          ['ECDSA P-256 sign/s', b.signPerSec],
          ['ECDSA P-256 verify/s', b.verifyPerSec],
          ['SHA-256 MB/s', b.sha256MbPerSec],
          ['contract calls/s (warm kv.put)', b.contractCallsPerSec],
          [
            `PostgreSQL durable commits at ${b.ledger?.txPerBlock ?? '-'} tx/block, one writer: tx/s`,
            b.ledger === null ? '-' : b.ledger.txPerSec,
          ],
          ['  CPU ms per tx stored (writer + PostgreSQL)', num(b.ledger?.cpuMsPerTx, 3)],
        ],
      ),
    );
    out.push(
      table(
        ['physical limit', 'value'],
        [
          ['tx per block (this run)', l.txPerBlock],
          ['signatures per tx, all nodes: signs / verifies', `${l.signsPerTx} / ${l.verifiesPerTx}`],
          [
            'CPU ms per tx: signatures + contracts + storing on every node',
            `${l.cryptoCpuMsPerTx} + ${l.contractCpuMsPerTx} + ${l.ledgerCpuMsPerTx ?? '-'} = ${l.cpuMsPerTx}`,
          ],
          [`signatures alone, ${b.cores} cores`, `${l.signatureBoundTps} tx/s`],
          [`limit, ${b.cores} cores`, `${l.tps} tx/s`],
          ['achieved / limit', `${r.tps} / ${l.tps} = ${Math.round(l.achievedRatio * 1000) / 10}%`],
        ],
      ),
    );
  }
  out.push(
    `tps ${r.tps} (${r.headline}${r.peak === null ? '' : `, peak at ${r.peak.clients} clients`}), latency p50 ${ms(r.latency.p50)} ms, p99 ${ms(r.latency.p99)} ms`,
  );
  return `${out.join('\n')}\n`;
}
