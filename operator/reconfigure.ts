import { quorumSize, votingOrderers, type NetworkConfig } from '../node/protocol/index.js';
import { names, type NodeRole } from './plan.js';

/*
 * Pure: the next safe step of a membership change, derived from the configuration in force on
 * the network, the spec, the pods' readiness and the nodes' heights (level-triggered: a restarted
 * operator derives the same step). One membership change per config transaction, orderers first:
 *
 *   scale up   add-orderer (learner) -> [publish, StatefulSet +1] -> caught up? -> promote-orderer
 *   scale down remove-node (highest index) -> [publish, StatefulSet -1]
 *   peers      add-peer -> [StatefulSet +1];  remove-node -> [StatefulSet -1]
 *
 * The StatefulSets follow the published configuration (the reconciler's job), never the spec,
 * so a pod is only ever created for a node already in the configuration and only removed once
 * its removal has committed.
 *
 * Publishing an add or a removal resizes that node's StatefulSet, which changes its pod template
 * (Kubernetes cannot mount a Secret per ordinal), so the group's other pods restart one at a
 * time. Hence two more rules: no step while any orderer StatefulSet is still rolling (two groups
 * rolling at once could each take a voter down), and each step only if the voters ready after it,
 * less the one its roll takes down at a time, still make the quorum of the membership after it.
 */

/** A learner counts as caught up when its height is within this many blocks of the network's. */
export const CATCH_UP_MARGIN_BLOCKS = 1;

export type MembershipOp = 'add-orderer' | 'promote-orderer' | 'remove-node' | 'add-peer';

export type ReconfigStep =
  | { readonly kind: 'idle' }
  /** `node`: the node waited for, when the wait is about one node (not, e.g., a rollout). */
  | { readonly kind: 'wait'; readonly node?: string; readonly reason: string }
  | {
      readonly kind: 'submit';
      readonly op: MembershipOp;
      readonly node: string;
      readonly role: NodeRole;
      readonly org: string;
    };

export interface ReconfigInput {
  readonly network: string;
  /** Organisations in spec order (orderers are spread over them round-robin). */
  readonly orgs: readonly string[];
  readonly desiredOrderers: number;
  /** Organisation -> desired peer count. */
  readonly desiredPeers: ReadonlyMap<string, number>;
  /** The configuration in force on the network. */
  readonly config: NetworkConfig;
  readonly podReady: (name: string) => boolean;
  /** Heights of the nodes that answered (name -> height). */
  readonly heights: ReadonlyMap<string, number>;
  /** The orderer StatefulSets still rolling, each with why (`rolloutInProgress`); empty if none. */
  readonly rollouts: readonly string[];
  readonly catchUpMargin?: number;
}

/** The fields of a StatefulSet that say whether its controller is done rolling its pods. */
export interface StatefulSetRollout {
  readonly metadata?: { readonly name?: string; readonly generation?: number };
  readonly spec?: { readonly replicas?: number };
  readonly status?: {
    readonly observedGeneration?: number;
    readonly replicas?: number;
    readonly readyReplicas?: number;
    readonly updatedReplicas?: number;
    readonly currentRevision?: string;
    readonly updateRevision?: string;
  };
}

/**
 * Why `set`'s rollout is not complete, or undefined once it is: its controller has seen the
 * newest spec, runs exactly the wanted pods, all at the newest template, and has made that
 * template current (which a RollingUpdate does only once every pod is Ready). A pod still to be
 * restarted, or restarted and not Ready yet, keeps it rolling.
 */
export function rolloutInProgress(set: StatefulSetRollout): string | undefined {
  const name = set.metadata?.name ?? '?';
  const wanted = set.spec?.replicas ?? 1; // the API's default
  const status = set.status;
  const generation = set.metadata?.generation;
  if (
    status?.observedGeneration === undefined ||
    (generation !== undefined && status.observedGeneration < generation)
  )
    return `${name}: its controller has not yet seen generation ${String(generation)}`;
  if ((status.replicas ?? 0) !== wanted) return `${name}: ${status.replicas ?? 0} pod(s), ${wanted} wanted`;
  if ((status.updatedReplicas ?? 0) < wanted)
    return `${name}: ${status.updatedReplicas ?? 0} of ${wanted} pod(s) at the new template`;
  if (status.currentRevision !== status.updateRevision)
    return `${name}: rolling to ${String(status.updateRevision)}, ${status.readyReplicas ?? 0} of ${wanted} pod(s) ready`;
  return undefined;
}

/**
 * Undefined if `ready` voting orderers make the quorum of `voters` even while `restarting` more
 * of them (0 or 1: rolls go one pod at a time) are down, else why not. With 1 or 2 orderers the
 * quorum is all of them: no restart can keep it, so there it only asks that every voter be ready,
 * and ordering pauses while one restarts.
 */
export function quorumShortfall(ready: number, voters: number, restarting: number): string | undefined {
  const quorum = quorumSize(voters);
  if (quorum === voters)
    return ready >= voters
      ? undefined
      : `${ready} of ${voters} voting orderer(s) ready; with no fault tolerance every one must be`;
  if (ready - restarting >= quorum) return undefined;
  return `${ready} voting orderer(s) ready${restarting > 0 ? `, ${restarting} of them to restart` : ''}; the quorum of ${voters} is ${quorum}`;
}

/** The round-robin orderer name at `index` (as planNetwork places them). */
export function ordererNameAt(network: string, orgs: readonly string[], index: number): string {
  const org = orgs[index % orgs.length] as string;
  return names.pod(network, org, 'orderer', Math.floor(index / orgs.length));
}

export function ordererIndexOf(network: string, orgs: readonly string[], name: string): number {
  for (let i = 0; i < orgs.length; i++) {
    const org = orgs[i] as string;
    const prefix = `${names.statefulSet(network, org, 'orderer')}-`;
    if (!name.startsWith(prefix)) continue;
    const ordinal = Number(name.slice(prefix.length));
    if (Number.isInteger(ordinal) && ordinal >= 0) return ordinal * orgs.length + i;
  }
  return -1;
}

function peerOrdinalOf(network: string, org: string, name: string): number {
  const prefix = `${names.statefulSet(network, org, 'peer')}-`;
  const ordinal = name.startsWith(prefix) ? Number(name.slice(prefix.length)) : NaN;
  return Number.isInteger(ordinal) ? ordinal : -1;
}

export function nextStep(input: ReconfigInput): ReconfigStep {
  const { network, orgs, config } = input;
  const margin = input.catchUpMargin ?? CATCH_UP_MARGIN_BLOCKS;
  const voting = votingOrderers(config.orderers).map((o) => o.name as string);
  const learners = config.orderers.filter((o) => o.learner === true).map((o) => o.name as string);
  const readyVoting = (exclude?: string) => voting.filter((n) => n !== exclude && input.podReady(n)).length;
  const orgOf = (name: string) =>
    config.orderers.find((o) => o.name === name)?.org ?? config.peers.find((p) => p.name === name)?.org ?? '';
  /** Voters a resize of `org`'s orderer StatefulSet restarts at a time (1 if it runs a ready voter). */
  const rollCost = (org: string, exclude?: string) =>
    voting.some((n) => n !== exclude && orgOf(n) === org && input.podReady(n)) ? 1 : 0;

  const rollout = input.rollouts[0];
  if (rollout !== undefined)
    return {
      kind: 'wait',
      reason: `waiting for the orderer rollout to finish (${input.rollouts.join('; ')})`,
    };

  const learner = learners[0];
  if (learner !== undefined) {
    const index = ordererIndexOf(network, orgs, learner);
    // A learner the spec no longer wants leaves without ever having voted; its group then rolls.
    if (index < 0 || index >= input.desiredOrderers) {
      const short = quorumShortfall(readyVoting(), voting.length, rollCost(orgOf(learner)));
      if (short !== undefined) return { kind: 'wait', node: learner, reason: `removing waits: ${short}` };
      return { kind: 'submit', op: 'remove-node', node: learner, role: 'orderer', org: orgOf(learner) };
    }
    if (!input.podReady(learner))
      return { kind: 'wait', node: learner, reason: 'waiting for its pod to be ready' };
    const height = input.heights.get(learner);
    const networkHeights = voting.flatMap((n) => {
      const h = input.heights.get(n);
      return h === undefined ? [] : [h];
    });
    if (height === undefined) return { kind: 'wait', node: learner, reason: 'waiting for its /status' };
    if (networkHeights.length === 0)
      return { kind: 'wait', node: learner, reason: 'waiting for a voting orderer to report its height' };
    const networkHeight = Math.max(...networkHeights);
    if (height + margin < networkHeight)
      return {
        kind: 'wait',
        node: learner,
        reason: `catching up: height ${height} of ${networkHeight}`,
      };
    // Promotion grows the quorum (and restarts nothing): the ready voters plus the learner must reach it.
    const short = quorumShortfall(readyVoting() + 1, voting.length + 1, 0);
    if (short !== undefined) return { kind: 'wait', node: learner, reason: `promoting waits: ${short}` };
    return { kind: 'submit', op: 'promote-orderer', node: learner, role: 'orderer', org: orgOf(learner) };
  }

  if (voting.length < input.desiredOrderers) {
    const present = new Set(config.orderers.map((o) => o.name as string));
    let index = 0;
    while (present.has(ordererNameAt(network, orgs, index))) index++;
    const node = ordererNameAt(network, orgs, index);
    const org = orgs[index % orgs.length] as string;
    // The learner's group grows and rolls: the quorum must survive one of its voters restarting.
    const short = quorumShortfall(readyVoting(), voting.length, rollCost(org));
    if (short !== undefined) return { kind: 'wait', node, reason: `adding waits: ${short}` };
    return { kind: 'submit', op: 'add-orderer', node, role: 'orderer', org };
  }
  if (voting.length > input.desiredOrderers) {
    const victim = [...voting].sort(
      (a, b) => ordererIndexOf(network, orgs, b) - ordererIndexOf(network, orgs, a),
    )[0] as string;
    // The others must make a quorum of the smaller membership, even while its group rolls.
    const short = quorumShortfall(readyVoting(victim), voting.length - 1, rollCost(orgOf(victim), victim));
    if (short !== undefined) return { kind: 'wait', node: victim, reason: `removing waits: other ${short}` };
    return { kind: 'submit', op: 'remove-node', node: victim, role: 'orderer', org: orgOf(victim) };
  }

  for (const org of orgs) {
    const desired = input.desiredPeers.get(org) ?? 0;
    const peers = config.peers.filter((p) => p.org === org).map((p) => p.name as string);
    if (peers.length < desired) {
      const present = new Set(peers);
      let ordinal = 0;
      while (present.has(names.pod(network, org, 'peer', ordinal))) ordinal++;
      return {
        kind: 'submit',
        op: 'add-peer',
        node: names.pod(network, org, 'peer', ordinal),
        role: 'peer',
        org,
      };
    }
    if (peers.length > desired) {
      const victim = [...peers].sort(
        (a, b) => peerOrdinalOf(network, org, b) - peerOrdinalOf(network, org, a),
      )[0] as string;
      return { kind: 'submit', op: 'remove-node', node: victim, role: 'peer', org };
    }
  }
  return { kind: 'idle' };
}

/** Whether the spec asks for a membership other than `config`'s (so the ledger must be asked). */
export function membershipDiffers(input: Omit<ReconfigInput, 'podReady' | 'heights' | 'rollouts'>): boolean {
  const { config } = input;
  if (config.orderers.some((o) => o.learner === true)) return true;
  if (config.orderers.length !== input.desiredOrderers) return true;
  return input.orgs.some(
    (org) => config.peers.filter((p) => p.org === org).length !== (input.desiredPeers.get(org) ?? 0),
  );
}
