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
 */

/** A learner counts as caught up when its height is within this many blocks of the network's. */
export const CATCH_UP_MARGIN_BLOCKS = 1;

export type MembershipOp = 'add-orderer' | 'promote-orderer' | 'remove-node' | 'add-peer';

export type ReconfigStep =
  | { readonly kind: 'idle' }
  | { readonly kind: 'wait'; readonly node: string; readonly reason: string }
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
  readonly catchUpMargin?: number;
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

  const learner = learners[0];
  if (learner !== undefined) {
    const index = ordererIndexOf(network, orgs, learner);
    // A learner the spec no longer wants leaves without ever having voted.
    if (index < 0 || index >= input.desiredOrderers)
      return { kind: 'submit', op: 'remove-node', node: learner, role: 'orderer', org: orgOf(learner) };
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
    // Promotion grows the quorum: only if the ready voters plus the learner reach it.
    if (readyVoting() + 1 < quorumSize(voting.length + 1))
      return {
        kind: 'wait',
        node: learner,
        reason: `only ${readyVoting()} voting orderer(s) ready; promoting needs ${quorumSize(voting.length + 1) - 1}`,
      };
    return { kind: 'submit', op: 'promote-orderer', node: learner, role: 'orderer', org: orgOf(learner) };
  }

  if (voting.length < input.desiredOrderers) {
    const present = new Set(config.orderers.map((o) => o.name as string));
    let index = 0;
    while (present.has(ordererNameAt(network, orgs, index))) index++;
    const node = ordererNameAt(network, orgs, index);
    return {
      kind: 'submit',
      op: 'add-orderer',
      node,
      role: 'orderer',
      org: orgs[index % orgs.length] as string,
    };
  }
  if (voting.length > input.desiredOrderers) {
    const victim = [...voting].sort(
      (a, b) => ordererIndexOf(network, orgs, b) - ordererIndexOf(network, orgs, a),
    )[0] as string;
    // The others must still make a quorum of the smaller membership.
    if (readyVoting(victim) < quorumSize(voting.length - 1))
      return {
        kind: 'wait',
        node: victim,
        reason: `only ${readyVoting(victim)} other voting orderer(s) ready; removing needs ${quorumSize(voting.length - 1)}`,
      };
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
export function membershipDiffers(input: Omit<ReconfigInput, 'podReady' | 'heights'>): boolean {
  const { config } = input;
  if (config.orderers.some((o) => o.learner === true)) return true;
  if (config.orderers.length !== input.desiredOrderers) return true;
  return input.orgs.some(
    (org) => config.peers.filter((p) => p.org === org).length !== (input.desiredPeers.get(org) ?? 0),
  );
}
