import type { Prng } from '../simulator/prng.js';

/**
 * The fault catalogue and the seeded schedule. Tracks run side by side: one for the orderers
 * (faults that make one orderer faulty: its process, its links, its database) and one per peer
 * (the peer's process, database and links, including links to orderers, which leave every
 * orderer correct). Within a track a fault is healed, and its node has caught up, before the
 * next starts; so at most f = 1 of the 4 orderers is faulty at any time, only peer faults
 * overlap, and progress is expected once every fault has healed.
 *
 * A plan is drawn from its track's own PRNG before it runs, so a seed replays the same sequence
 * of faults per track (kinds, targets, durations) whatever the timing; only "leader" is
 * resolved when the fault starts.
 */
export interface Track {
  /** 'orderers', or the peer's name. */
  readonly name: string;
  readonly role: 'orderer' | 'peer';
  /** The nodes its faults may target. */
  readonly targets: readonly string[];
}

export const FAULT_KINDS = [
  /** SIGKILL, down for a while, restarted from its database. */
  'kill',
  /** SIGKILL of the current leader (orderers' track). */
  'kill-leader',
  /** SIGTERM (a clean stop is expected: exit code 0), then restarted. */
  'restart',
  /** SIGSTOP for the duration, then SIGCONT. */
  'pause',
  /** SIGSTOP of the current leader (orderers' track). */
  'pause-leader',
  /** Timer stress: bursts of SIGSTOP/SIGCONT (tens to hundreds of ms), so timers fire late and in bunches. */
  'timer-stress',
  /** Every link of the node black-holed both ways. */
  'isolate',
  /** A minority side {orderer, some peers} cut from the rest (orderers' track). */
  'partition',
  /** One-way: the node's outgoing bytes on every link are black-holed; it still hears everyone. */
  'cut-out',
  /** One-way: the node hears nobody; what it sends still arrives. */
  'cut-in',
  /** One link black-holed both ways. */
  'link-cut',
  /** One direction of one link black-holed. */
  'link-oneway',
  /** Every link of the node delayed (both ways, with jitter, order kept). */
  'delay',
  /** One link delayed. */
  'link-delay',
  /** Every link of the node stalls briefly, then everything held arrives (TCP under loss). */
  'stall',
  /** Bursts of TCP resets on every link of the node. */
  'reset',
  /** The node's PostgreSQL goes away: connections reset, new ones refused. */
  'db-down',
  /** The node's PostgreSQL connections black-holed: queries hang, then complete. */
  'db-stall',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

export function isFaultKind(kind: string): kind is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(kind);
}

export interface FaultPlan {
  /** The track's name. */
  readonly track: string;
  /** Position in its track's schedule, from 1. */
  readonly n: number;
  readonly kind: FaultKind;
  /** A node name, or 'leader' (resolved when the fault starts). */
  readonly target: string;
  /** The other end of a link fault. */
  readonly other?: string;
  /** For link-oneway: the direction cut, seen from the target. */
  readonly direction?: 'out' | 'in';
  /** Partition: the peers on the target orderer's side. */
  readonly group?: readonly string[];
  /** How long the fault lasts (kill/restart: how long the node stays down). */
  readonly durationMs: number;
  readonly delayMs?: number;
  readonly jitterMs?: number;
  /** timer-stress: [stopped ms, running ms] pairs; reset: [wait ms before the reset, 0]. */
  readonly bursts?: readonly (readonly [number, number])[];
  /** Quiet time before the fault starts. */
  readonly gapMs: number;
}

const ORDERER_WEIGHTS: Partial<Record<FaultKind, number>> = {
  kill: 8,
  'kill-leader': 6,
  restart: 2,
  pause: 6,
  'pause-leader': 4,
  'timer-stress': 5,
  isolate: 6,
  partition: 4,
  'cut-out': 4,
  'cut-in': 4,
  'link-cut': 5,
  'link-oneway': 5,
  delay: 5,
  'link-delay': 4,
  stall: 6,
  reset: 6,
  'db-down': 5,
  'db-stall': 4,
};

const PEER_WEIGHTS: Partial<Record<FaultKind, number>> = {
  kill: 8,
  restart: 2,
  pause: 6,
  'timer-stress': 5,
  isolate: 6,
  'cut-out': 4,
  'cut-in': 4,
  'link-cut': 5,
  'link-oneway': 5,
  delay: 5,
  'link-delay': 4,
  stall: 6,
  reset: 6,
  'db-down': 5,
  'db-stall': 4,
};

function weighted(
  prng: Prng,
  weights: Partial<Record<FaultKind, number>>,
  exclude: ReadonlySet<FaultKind>,
): FaultKind {
  const entries = FAULT_KINDS.flatMap((k) => {
    const w = weights[k];
    return w === undefined || exclude.has(k) ? [] : [[k, w] as const];
  });
  if (entries.length === 0) throw new RangeError('every fault kind of this track is excluded');
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  let pick = prng.int(total);
  for (const [kind, w] of entries) {
    if (pick < w) return kind;
    pick -= w;
  }
  throw new Error('unreachable');
}

/** Draws the next fault of `track` from its PRNG (never one of the `exclude`d kinds). */
export function nextPlan(
  prng: Prng,
  track: Track,
  n: number,
  nodes: { readonly orderers: readonly string[]; readonly peers: readonly string[] },
  exclude: ReadonlySet<FaultKind> = new Set(),
): FaultPlan {
  const kind = weighted(prng, track.role === 'orderer' ? ORDERER_WEIGHTS : PEER_WEIGHTS, exclude);
  const leaderFault = kind === 'kill-leader' || kind === 'pause-leader';
  const target = leaderFault ? 'leader' : prng.pick(track.targets);
  const gapMs = prng.range(0, 300);
  const base = { track: track.name, n, kind, target, gapMs };
  const everyone = [...nodes.orderers, ...nodes.peers];
  // Most network faults are short (a blip the links ride out); about one in five outlasts the
  // transport's dead-peer timeout (5 s), so links drop and must be redialed.
  const blipOrOutage = (): number => (prng.chance(0.2) ? prng.range(5_500, 7_500) : prng.range(300, 2_000));
  switch (kind) {
    case 'kill':
    case 'kill-leader':
      return { ...base, durationMs: prng.range(0, 1_000) };
    case 'restart':
      return { ...base, durationMs: prng.range(0, 500) };
    case 'pause':
    case 'pause-leader':
      return { ...base, durationMs: blipOrOutage() };
    case 'timer-stress': {
      const durationMs = prng.range(1_000, 3_000);
      const bursts: [number, number][] = [];
      for (let t = 0; t < durationMs;) {
        const burst: [number, number] = [prng.range(50, 500), prng.range(20, 200)];
        bursts.push(burst);
        t += burst[0] + burst[1];
      }
      return { ...base, durationMs, bursts };
    }
    case 'isolate':
    case 'cut-out':
    case 'cut-in':
      return { ...base, durationMs: blipOrOutage() };
    case 'partition': {
      const group = nodes.peers.filter(() => prng.chance(0.5));
      if (group.length === 0) group.push(prng.pick(nodes.peers));
      return { ...base, durationMs: blipOrOutage(), group };
    }
    case 'link-cut':
    case 'link-oneway': {
      // Any other node. On a peer's track that may be an orderer: its links to the other
      // orderers are untouched, so it stays correct; only the peer is faulty.
      const other = prng.pick(everyone.filter((n) => n !== target));
      const direction = prng.chance(0.5) ? 'out' : 'in';
      return {
        ...base,
        durationMs: blipOrOutage(),
        other,
        ...(kind === 'link-oneway' ? { direction } : {}),
      };
    }
    case 'delay':
    case 'link-delay': {
      const other = prng.pick(everyone.filter((n) => n !== target));
      return {
        ...base,
        durationMs: prng.range(500, 3_000),
        delayMs: prng.range(20, 300),
        jitterMs: prng.range(0, 100),
        ...(kind === 'link-delay' ? { other } : {}),
      };
    }
    case 'stall':
      return { ...base, durationMs: prng.range(200, 1_500) };
    case 'reset': {
      const bursts: [number, number][] = [];
      const count = prng.range(1, 3);
      for (let i = 0; i < count; i++) bursts.push([i === 0 ? 0 : prng.range(0, 500), 0]);
      return { ...base, durationMs: bursts.reduce((sum, [wait]) => sum + wait, 0), bursts };
    }
    case 'db-down':
      return { ...base, durationMs: prng.range(300, 3_000) };
    case 'db-stall':
      return { ...base, durationMs: prng.range(200, 2_000) };
    default: {
      const unreachable: never = kind;
      throw new Error(`unknown fault ${String(unreachable)}`);
    }
  }
}

/** One line describing a plan, for the fault log. */
export function describePlan(plan: FaultPlan, target: string): string {
  const parts = [`${plan.kind} ${target}`];
  if (plan.other !== undefined)
    parts.push(
      plan.direction === undefined
        ? `<-> ${plan.other}`
        : `${plan.direction === 'out' ? '->' : '<-'} ${plan.other}`,
    );
  if (plan.group !== undefined) parts.push(`with ${plan.group.join(',')}`);
  if (plan.delayMs !== undefined) parts.push(`+${plan.delayMs}±${plan.jitterMs ?? 0}ms`);
  if (plan.bursts !== undefined) parts.push(`${plan.bursts.length} bursts`);
  parts.push(`${plan.durationMs}ms`);
  return parts.join(' ');
}
