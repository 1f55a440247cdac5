/*
 * Pure status computation: from what was observed (StatefulSets, pods, nodes' /status) to the
 * LedgerNetwork's status. Conditions keep their lastTransitionTime while their status holds.
 */

export type ConditionType = 'Ready' | 'Progressing' | 'Degraded' | 'CertificatesReady';
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export interface NodeReport {
  readonly name: string;
  readonly role: string;
  readonly org: string;
  readonly height: number;
  readonly headHash?: string;
  readonly leader?: string;
  readonly healthy: boolean;
}

export interface NodeSummary {
  name: string;
  role: string;
  org: string;
  ready: boolean;
  reachable: boolean;
  inGenesis: boolean;
  height?: number;
  leader?: string;
  message?: string;
}

/** Progress of a membership change or certificate renewal (config transactions), for a resumed operator and for people. */
export interface ReconfigurationStatus {
  /** Idle, Waiting (for a pod, a catch-up, the ledger), Submitted, Refused. */
  phase: 'Idle' | 'Waiting' | 'Submitted' | 'Refused' | 'LedgerUnreachable';
  /** The step: add-orderer, promote-orderer, remove-node, add-peer, replace-cert. */
  op?: string;
  node?: string;
  /** Sequence of the configuration in force on the network (when it answered). */
  sequence?: number;
  /** Sequence of the newest config update published to the pods (`<n>-config-updates`). */
  publishedSequence: number;
  message: string;
  /** The generation whose change the network refused: not retried until the spec changes. */
  refusedGeneration?: number;
}

export interface Observation {
  readonly generation: number;
  readonly networkId: string;
  readonly genesisHash: string;
  readonly desiredOrderers: number;
  readonly desiredPeers: number;
  /** Every desired node, with its pod's readiness and (if reachable) its /status report. */
  readonly nodes: readonly {
    name: string;
    role: 'orderer' | 'peer';
    org: string;
    podReady: boolean;
    inGenesis: boolean;
    report?: NodeReport;
    unreachable?: string;
  }[];
  /** Spec problems the operator refused to act on (e.g. an orderer count change). */
  readonly refusals: readonly string[];
  /** Reason for the Degraded condition when `refusals` is not empty (default SpecChangeRefused). */
  readonly refusalReason?: string;
  readonly reconfiguration?: ReconfigurationStatus;
  readonly certificatesReady: boolean;
  readonly certificatesMessage: string;
}

export type Phase = 'Pending' | 'Progressing' | 'Ready' | 'Degraded' | 'Deleting';

export interface LedgerNetworkStatus {
  observedGeneration: number;
  phase: Phase;
  networkId?: string;
  genesisHash?: string;
  orderers: string;
  peers: string;
  readyOrderers: number;
  desiredOrderers: number;
  readyPeers: number;
  desiredPeers: number;
  height?: number;
  leader?: string;
  nodes: NodeSummary[];
  reconfiguration?: ReconfigurationStatus;
  conditions: Condition[];
}

export function setCondition(
  existing: readonly Condition[],
  next: Omit<Condition, 'lastTransitionTime'>,
  now: Date,
): Condition[] {
  const previous = existing.find((c) => c.type === next.type);
  const lastTransitionTime =
    previous !== undefined && previous.status === next.status
      ? previous.lastTransitionTime
      : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return [...existing.filter((c) => c.type !== next.type), { ...next, lastTransitionTime }];
}

export function readConditions(status: Record<string, unknown>): Condition[] {
  const raw = status.conditions;
  return Array.isArray(raw) ? (raw as Condition[]).filter((c) => typeof c.type === 'string') : [];
}

/** The most common value among the reports, ties broken by the larger value (for height). */
function majority<T>(values: readonly T[]): T | undefined {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: T | undefined;
  let bestCount = 0;
  for (const [v, c] of counts) {
    if (c > bestCount) {
      best = v;
      bestCount = c;
    }
  }
  return best;
}

export function computeStatus(
  observation: Observation,
  previous: readonly Condition[],
  now: Date,
): LedgerNetworkStatus {
  const gen = observation.generation;
  const readyOrderers = observation.nodes.filter((n) => n.role === 'orderer' && n.podReady).length;
  const readyPeers = observation.nodes.filter((n) => n.role === 'peer' && n.podReady).length;
  const reports = observation.nodes.flatMap((n) => (n.report === undefined ? [] : [n.report]));
  const heights = reports.map((r) => r.height);
  const height = heights.length === 0 ? undefined : Math.max(...heights);
  const leader = majority(
    reports.flatMap((r) => (r.leader === undefined || r.leader === '' ? [] : [r.leader])),
  );
  const allReady = readyOrderers === observation.desiredOrderers && readyPeers === observation.desiredPeers;
  const degraded = observation.refusals.length > 0 || !observation.certificatesReady;

  let conditions = setCondition(
    previous,
    {
      type: 'CertificatesReady',
      status: observation.certificatesReady ? 'True' : 'False',
      reason: observation.certificatesReady ? 'Issued' : 'CertificatesMissing',
      message: observation.certificatesMessage,
      observedGeneration: gen,
    },
    now,
  );
  conditions = setCondition(
    conditions,
    degraded
      ? {
          type: 'Degraded',
          status: 'True',
          reason: observation.certificatesReady
            ? (observation.refusalReason ?? 'SpecChangeRefused')
            : 'CertificatesMissing',
          message: [
            ...observation.refusals,
            ...(observation.certificatesReady ? [] : [observation.certificatesMessage]),
          ].join('; '),
          observedGeneration: gen,
        }
      : {
          type: 'Degraded',
          status: 'False',
          reason: 'AsExpected',
          message: 'no problems',
          observedGeneration: gen,
        },
    now,
  );
  const waiting = observation.nodes.filter((n) => !n.podReady).map((n) => n.name);
  const reconfiguration = observation.reconfiguration;
  const reconfiguring =
    reconfiguration !== undefined && reconfiguration.phase !== 'Idle' && reconfiguration.phase !== 'Refused';
  conditions = setCondition(
    conditions,
    reconfiguring
      ? {
          type: 'Progressing',
          status: 'True',
          reason: 'Reconfiguring',
          message: reconfiguration.message,
          observedGeneration: gen,
        }
      : allReady
        ? {
            type: 'Progressing',
            status: 'False',
            reason: 'Reconciled',
            message: 'every node is ready',
            observedGeneration: gen,
          }
        : {
            type: 'Progressing',
            status: 'True',
            reason: 'WaitingForNodes',
            message: `waiting for ${waiting.length} node(s) to be ready: ${waiting.slice(0, 10).join(', ')}${waiting.length > 10 ? ', ...' : ''}`,
            observedGeneration: gen,
          },
    now,
  );
  conditions = setCondition(
    conditions,
    allReady && !degraded && !reconfiguring
      ? {
          type: 'Ready',
          status: 'True',
          reason: 'NetworkReady',
          message: `${readyOrderers} orderer(s) and ${readyPeers} peer(s) ready`,
          observedGeneration: gen,
        }
      : {
          type: 'Ready',
          status: 'False',
          reason: degraded ? 'Degraded' : allReady ? 'Reconfiguring' : 'NodesNotReady',
          message: `${readyOrderers}/${observation.desiredOrderers} orderers and ${readyPeers}/${observation.desiredPeers} peers ready`,
          observedGeneration: gen,
        },
    now,
  );
  const order: ConditionType[] = ['Ready', 'Progressing', 'Degraded', 'CertificatesReady'];
  conditions.sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type));

  return {
    observedGeneration: gen,
    phase: degraded ? 'Degraded' : allReady && !reconfiguring ? 'Ready' : 'Progressing',
    networkId: observation.networkId,
    genesisHash: observation.genesisHash,
    orderers: `${readyOrderers}/${observation.desiredOrderers}`,
    peers: `${readyPeers}/${observation.desiredPeers}`,
    readyOrderers,
    desiredOrderers: observation.desiredOrderers,
    readyPeers,
    desiredPeers: observation.desiredPeers,
    ...(height === undefined ? {} : { height }),
    ...(leader === undefined ? {} : { leader }),
    nodes: observation.nodes.map((n) => ({
      name: n.name,
      role: n.role,
      org: n.org,
      ready: n.podReady,
      reachable: n.report !== undefined,
      inGenesis: n.inGenesis,
      ...(n.report === undefined ? {} : { height: n.report.height }),
      ...(n.report?.leader === undefined ? {} : { leader: n.report.leader }),
      ...(n.unreachable === undefined ? {} : { message: n.unreachable }),
    })),
    ...(observation.reconfiguration === undefined ? {} : { reconfiguration: observation.reconfiguration }),
    conditions,
  };
}

/** Status for a spec that cannot form a network: Degraded with the problems, nothing else touched. */
export function invalidSpecStatus(
  generation: number,
  problems: readonly string[],
  previous: readonly Condition[],
  now: Date,
): Pick<LedgerNetworkStatus, 'observedGeneration' | 'phase' | 'conditions'> {
  const message = problems.join('; ');
  let conditions = setCondition(
    previous,
    { type: 'Degraded', status: 'True', reason: 'InvalidSpec', message, observedGeneration: generation },
    now,
  );
  conditions = setCondition(
    conditions,
    { type: 'Ready', status: 'False', reason: 'InvalidSpec', message, observedGeneration: generation },
    now,
  );
  return { observedGeneration: generation, phase: 'Degraded', conditions };
}
