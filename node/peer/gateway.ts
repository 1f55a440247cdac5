import { randomBytes } from 'node:crypto';
import { configTxProblems } from '../config/index.js';
import type { ChainNode, NodeMessage } from '../node/index.js';
import { Channel, encodeEndorse, encodeEndorsed, encodeSubmit } from '../node/index.js';
import {
  canonicalBytes,
  faultTolerance,
  votingOrderers,
  policyOrgs,
  policySatisfied,
  proposalTxId,
  PROTOCOL_VERSION,
  type Endorsement,
  type Envelope,
  type InvokePayload,
  type PolicyExpr,
  type ProposalResponse,
  type SignedProposal,
} from '../protocol/index.js';
import type { PeerIdentity } from '../transport/index.js';
import type { CommittedBlockEvent, Committer, TransactionOutcome } from './committer.js';
import type { Endorser } from './endorser.js';
import { PeerError } from './errors.js';
import { contractDefinitionSchema, definitionKey, LIFECYCLE_CONTRACT } from './lifecycle.js';
import type { WorldStateCache } from './state-cache.js';

/** An endorsing peer that has not answered in this time is given up on (another is tried). */
export const ENDORSE_TIMEOUT_MS = 10_000;
/** How long `submit` waits for the transaction to be final and validated here. */
export const COMMIT_TIMEOUT_MS = 30_000;
/** How long an endorser waits to catch up with the gateway's height before simulating anyway. */
export const ENDORSE_CATCHUP_MS = 5_000;
/** How long a gateway waits for a link to some peer of an organisation it needs. */
export const PEER_LINK_WAIT_MS = 5_000;
const PEER_LINK_POLL_MS = 50;
/** Endorsement requests awaiting an answer; more are refused rather than queued without bound. */
export const PENDING_ENDORSEMENTS_MAX = 10_000;
/** Subsets of organisations tried when planning whom to ask; beyond this many orgs, ask them all. */
const PLAN_ORGS_MAX = 12;

interface Pending {
  resolve(outcome: { response: ProposalResponse; endorsement: Endorsement }): void;
  reject(error: PeerError): void;
  timer: NodeJS.Timeout;
}

/**
 * The gateway on every peer (after Fabric Gateway): for a client's signed proposal it works out
 * which organisations' endorsements the contract's policy needs, collects them (from itself and
 * from peers of the other organisations), checks they agree, and returns the transaction for the
 * client to sign; `submit` then sends the signed transaction to the orderers and waits until
 * this peer has validated it in a final block.
 */
export class Gateway {
  private readonly pending = new Map<string, Pending>();
  /** Stops each client's wait for a commit (see stop()). */
  private readonly commitWaits = new Set<() => void>();

  constructor(
    private readonly node: ChainNode,
    private readonly endorser: Endorser,
    private readonly committer: Committer,
    private readonly cache: WorldStateCache,
  ) {}

  async endorse(signed: SignedProposal): Promise<InvokePayload> {
    const { proposal } = signed;
    const policy = await this.policyFor(proposal.contract);
    const orgs = planOrgs(
      policy,
      this.node.config.orgs.map((o) => o.name),
      this.myOrg,
    );
    const outcomes = await Promise.all(orgs.map((org) => this.endorsementFrom(org, signed)));
    const first = canonicalBytes(outcomes[0]?.response);
    const diverging = outcomes.findIndex((o) => !canonicalBytes(o.response).equals(first));
    if (diverging !== -1) {
      throw new PeerError(
        'PEER_ENDORSEMENTS_DIVERGE',
        `endorsers disagree: org ${orgs[0] ?? '?'} and org ${orgs[diverging] ?? '?'} computed different results (non-deterministic contract or diverged state)`,
      );
    }
    const response = outcomes[0]?.response;
    if (response === undefined)
      throw new PeerError('PEER_ENDORSEMENT_UNAVAILABLE', 'no endorsement collected');
    return {
      version: PROTOCOL_VERSION,
      type: 'invoke',
      txId: proposalTxId(proposal),
      proposal,
      response,
      endorsements: outcomes.map((o) => o.endorsement),
    };
  }

  evaluate(signed: SignedProposal): Promise<string> {
    return this.endorser.evaluate(signed);
  }

  /** Sends the client-signed transaction to every orderer and waits for its validation code here. */
  async submit(envelope: Envelope, timeoutMs = COMMIT_TIMEOUT_MS): Promise<TransactionOutcome> {
    const txId = envelope.payload.txId;
    // Listen before looking, so a commit in between is not missed; every early return or throw
    // cancels the wait, whose timeout would otherwise reject a promise nobody awaits (and an
    // unhandled rejection ends the process).
    const wait = this.waitForCommit(txId, timeoutMs);
    try {
      const known = await this.node.store.getTransaction(txId);
      if (known !== null) {
        wait.cancel();
        return { txId, code: known.validationCode, height: known.height, txIndex: known.txIndex };
      }
      if (envelope.payload.type === 'config') {
        // An update drafted from a configuration this peer has not committed yet: catch up first
        // rather than refuse it as "must be s+1".
        const base = envelope.payload.config.sequence - 1;
        await this.committer.waitUntil(() => this.node.config.sequence >= base, ENDORSE_CATCHUP_MS);
        // Orderers drop a refused transaction without telling anyone: say why here, at once.
        const config = this.node.config;
        const at = new Date();
        const problems = configTxProblems(envelope, config, at);
        if (problems.length > 0) {
          throw new PeerError(
            'PEER_BAD_CONFIG_UPDATE',
            `config update refused under the configuration in force (sequence ${config.sequence}): ${problems.join('; ')}`,
          );
        }
      }
      const sent = this.sendToOrderers(txId, encodeSubmit(envelope));
      if (!sent.includes('queued')) {
        throw new PeerError('PEER_SUBMIT_FAILED', `no orderer accepted the transaction (${sent.join(', ')})`);
      }
    } catch (e) {
      wait.cancel();
      throw e;
    }
    if (envelope.payload.type !== 'config') return wait.outcome;
    // Two updates drafted from one configuration: whichever is ordered first wins, and orderers
    // drop the other without telling anyone. Say so as soon as the winner commits here.
    const conflict = this.configConflict(txId, envelope.payload.config.sequence);
    try {
      return await Promise.race([wait.outcome, conflict.refused]);
    } finally {
      wait.cancel();
      conflict.cancel();
    }
  }

  /** Rejects once another update puts configuration `sequence` (or a later one) in force. */
  private configConflict(txId: string, sequence: number): { refused: Promise<never>; cancel(): void } {
    let cancel = (): void => undefined;
    const refused = new Promise<never>((_, reject) => {
      const check = ({ block }: CommittedBlockEvent): void => {
        const config = this.node.config;
        if (config.sequence < sequence || block.transactions.some((e) => e.payload.txId === txId)) return;
        cancel();
        reject(
          new PeerError(
            'PEER_BAD_CONFIG_UPDATE',
            `config update ${txId} conflicts with a concurrent change: configuration sequence ${config.sequence} ` +
              `was put in force by another update (block ${block.header.height}); draft it again from the current configuration`,
          ),
        );
      };
      cancel = () => {
        this.committer.off('block', check);
      };
      this.committer.on('block', check);
    });
    refused.catch(() => undefined);
    return { refused, cancel };
  }

  /**
   * Hands the transaction to f+1 orderers (one of them is honest, and orderers relay what they
   * receive to each other), starting at one picked by the txId so the work spreads; an orderer
   * we have no link to is skipped for the next. Sending to all of them cost every gateway O
   * copies of every envelope and every orderer O-1 redundant relays.
   */
  private sendToOrderers(txId: string, body: Buffer): string[] {
    // Learners do not order (they only follow the chain until promoted).
    const orderers = votingOrderers(this.node.config.orderers);
    const wanted = faultTolerance(orderers.length) + 1;
    const start = Number.parseInt(txId.slice(0, 8), 16) % orderers.length;
    const results: string[] = [];
    let queued = 0;
    for (let i = 0; i < orderers.length && queued < wanted; i++) {
      const orderer = orderers[(start + i) % orderers.length];
      if (orderer === undefined) continue;
      const result = this.node.send(orderer.name, Channel.node, body);
      results.push(result);
      if (result === 'queued') queued++;
    }
    return results;
  }

  /** Endorsement traffic from other nodes: requests to endorse, and answers to ours. */
  onRequest(
    from: PeerIdentity,
    message: Extract<NodeMessage, { type: 'endorse' | 'endorsed' | 'submit' }>,
  ): void {
    if (message.type === 'endorse') {
      this.committer
        .waitForHeight(message.minHeight, ENDORSE_CATCHUP_MS)
        .then(() => this.endorser.endorse(message.proposal))
        .then(
          (e) =>
            this.node.send(
              from.name,
              Channel.node,
              encodeEndorsed(message.requestId, { response: e.response, endorsement: e.endorsement }),
            ),
          (e: unknown) => {
            const code = e instanceof PeerError ? e.code : 'PEER_INTERNAL';
            if (!(e instanceof PeerError))
              this.node.logger.error({ peer: from.name, err: e }, 'endorsement failed');
            this.node.send(
              from.name,
              Channel.node,
              encodeEndorsed(message.requestId, {
                error: { code, message: (e as Error).message.slice(0, 1000) },
              }),
            );
          },
        );
      return;
    }
    if (message.type === 'endorsed') {
      const waiting = this.pending.get(message.requestId);
      if (waiting === undefined) return;
      this.pending.delete(message.requestId);
      clearTimeout(waiting.timer);
      if ('error' in message.outcome) {
        waiting.reject(
          new PeerError(
            'PEER_ENDORSEMENT_UNAVAILABLE',
            `${from.name}: ${message.outcome.error.message} [${message.outcome.error.code}]`,
          ),
        );
      } else {
        const endorser = message.outcome.endorsement.endorser;
        if (endorser.org !== from.org) {
          waiting.reject(
            new PeerError(
              'PEER_ENDORSEMENT_UNAVAILABLE',
              `${from.name} answered with an endorsement of org ${endorser.org}`,
            ),
          );
        } else waiting.resolve(message.outcome);
      }
    }
  }

  stop(): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new PeerError('PEER_ENDORSEMENT_UNAVAILABLE', 'gateway stopping'));
      this.pending.delete(id);
    }
    // Clients waiting for a commit are answered now: their open requests would otherwise hold
    // the API server (and the process) open for up to COMMIT_TIMEOUT_MS after a stop.
    for (const stopWaiting of this.commitWaits) stopWaiting();
  }

  private get myOrg(): string {
    return this.node.config.peers.find((p) => p.name === this.node.name)?.org ?? '';
  }

  private async policyFor(contract: string): Promise<PolicyExpr> {
    if (contract === LIFECYCLE_CONTRACT) return this.node.config.policies.endorsement;
    const entry = await this.cache.simulate((state) =>
      state.get(LIFECYCLE_CONTRACT, definitionKey(contract)),
    );
    if (entry === null)
      throw new PeerError('PEER_CONTRACT_NOT_FOUND', `contract ${contract} is not deployed`);
    const definition = contractDefinitionSchema.parse(JSON.parse(Buffer.from(entry.value).toString('utf8')));
    return definition.endorsementPolicy ?? this.node.config.policies.endorsement;
  }

  /** One endorsement from `org`: ours if it is our org, else from its connected peers in turn. */
  private async endorsementFrom(
    org: string,
    signed: SignedProposal,
  ): Promise<{ response: ProposalResponse; endorsement: Endorsement }> {
    if (org === this.myOrg) {
      const own = await this.endorser.endorse(signed);
      return { response: own.response, endorsement: own.endorsement };
    }
    const candidates = await this.connectedPeersOf(org);
    const failures: string[] = [];
    for (const peer of candidates) {
      try {
        return await this.ask(peer.name, signed);
      } catch (e) {
        failures.push((e as Error).message);
        // A refusal by the contract or the creator's permissions will be the same everywhere.
        if (
          e instanceof PeerError &&
          /PEER_(CONTRACT_FAILED|UNAUTHORIZED|BAD_SIGNATURE|BAD_PROPOSAL)/.test(e.message)
        )
          break;
      }
    }
    throw new PeerError(
      'PEER_ENDORSEMENT_UNAVAILABLE',
      candidates.length === 0
        ? `no peer of org ${org} is connected to endorse`
        : `no peer of org ${org} endorsed: ${failures.join('; ')}`,
    );
  }

  /**
   * Connected peers of `org`; if none is linked right now (a restart, a reconnect), waits a
   * little for one rather than fail a submission on a transient link.
   */
  private async connectedPeersOf(org: string): Promise<PeerIdentity[]> {
    const deadline = Date.now() + PEER_LINK_WAIT_MS;
    for (;;) {
      const linked = this.node.connectedPeers().filter((p) => p.role === 'peer' && p.org === org);
      if (linked.length > 0 || Date.now() >= deadline) return linked;
      await new Promise((resolve) => setTimeout(resolve, PEER_LINK_POLL_MS));
    }
  }

  private ask(
    peer: string,
    signed: SignedProposal,
  ): Promise<{ response: ProposalResponse; endorsement: Endorsement }> {
    if (this.pending.size >= PENDING_ENDORSEMENTS_MAX) {
      return Promise.reject(new PeerError('PEER_ENDORSEMENT_UNAVAILABLE', 'too many endorsements in flight'));
    }
    const requestId = randomBytes(16).toString('hex');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(
          new PeerError(
            'PEER_ENDORSEMENT_UNAVAILABLE',
            `${peer} did not answer within ${ENDORSE_TIMEOUT_MS} ms`,
          ),
        );
      }, ENDORSE_TIMEOUT_MS);
      this.pending.set(requestId, { resolve, reject, timer });
      const sent = this.node.send(
        peer,
        Channel.node,
        encodeEndorse(requestId, signed, this.node.chainHead.height),
      );
      if (sent !== 'queued') {
        clearTimeout(timer);
        this.pending.delete(requestId);
        reject(new PeerError('PEER_ENDORSEMENT_UNAVAILABLE', `cannot reach ${peer} (${sent})`));
      }
    });
  }

  /**
   * The outcome of `txId` here, or PEER_COMMIT_TIMEOUT after `timeoutMs`; `cancel` stops waiting
   * (removing only this wait's listener). A rejection before the caller awaits it is not unhandled.
   */
  private waitForCommit(
    txId: string,
    timeoutMs: number,
  ): { outcome: Promise<TransactionOutcome>; cancel(): void } {
    const event = `tx:${txId}`;
    let cancel = (): void => undefined;
    const outcome = new Promise<TransactionOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.committer.removeListener(event, onOutcome);
        this.commitWaits.delete(onStop);
        reject(
          new PeerError(
            'PEER_COMMIT_TIMEOUT',
            `transaction ${txId} was not final within ${timeoutMs} ms (it may still be)`,
          ),
        );
      }, timeoutMs);
      const onOutcome = (result: TransactionOutcome): void => {
        clearTimeout(timer);
        this.commitWaits.delete(onStop);
        resolve(result);
      };
      const onStop = (): void => {
        cancel();
        reject(
          new PeerError('PEER_COMMIT_TIMEOUT', `the peer stopped before transaction ${txId} was final here`),
        );
      };
      cancel = () => {
        clearTimeout(timer);
        this.committer.removeListener(event, onOutcome);
        this.commitWaits.delete(onStop);
      };
      this.commitWaits.add(onStop);
      this.committer.once(event, onOutcome);
    });
    outcome.catch(() => undefined);
    return { outcome, cancel };
  }
}

/**
 * The organisations to ask: the smallest set that satisfies the policy, preferring sets that
 * include our own org (its endorsement costs no round trip). Policies name few orgs in practice,
 * so subsets are enumerated by size; a policy over very many orgs asks all it names.
 */
export function planOrgs(policy: PolicyExpr, knownOrgs: readonly string[], myOrg: string): string[] {
  const named = [...new Set(policyOrgs(policy))].filter((o) => knownOrgs.includes(o));
  const ordered = [...named].sort((a, b) => (a === myOrg ? -1 : b === myOrg ? 1 : a.localeCompare(b)));
  if (ordered.length > PLAN_ORGS_MAX) return ordered;
  for (let size = 1; size <= ordered.length; size++) {
    for (const subset of combinations(ordered, size)) {
      if (policySatisfied(policy, new Set(subset))) return subset;
    }
  }
  throw new PeerError(
    'PEER_ENDORSEMENT_UNAVAILABLE',
    'no set of the network organisations can satisfy the endorsement policy',
  );
}

function* combinations(items: readonly string[], size: number, start = 0): Generator<string[]> {
  if (size === 0) {
    yield [];
    return;
  }
  for (let i = start; i <= items.length - size; i++) {
    for (const rest of combinations(items, size - 1, i + 1)) yield [items[i] as string, ...rest];
  }
}
