import type { Logger } from 'pino';
import type { ConsensusCrypto, ConsensusMessage, Outbound } from '../consensus/index.js';
import { signMessage, type Unsigned } from '../consensus/messages.js';
import type { ChainStore } from '../ledger/index.js';
import { blockServingGates } from '../node/delivery.js';
import {
  blockHash,
  buildBlock,
  commitVoteBytes,
  sha256Hex,
  SigningDomain,
  type Hash,
  type NodeName,
  type SignatureHex,
} from '../protocol/index.js';

/*
 * Byzantine orderer modes: an orderer that lies on purpose, for tests only.
 *
 * Why this is in the shipped code at all: the deterministic simulator (test/simulator) already
 * runs lying cores in memory, but only real `chainnode node start` processes exercise the whole
 * path a lie travels - the wire encoding, mutual-TLS links, vote persistence, block delivery,
 * the peers' committers and the API's metrics (test/cluster/byzantine.test.ts). A test can only
 * make a real process lie if that process knows how to.
 *
 * How it is locked, so that no production node can lie by accident:
 * - only the environment of the `node start` process enables it, never network.yaml, a CLI flag
 *   or the API, so neither the operator, the Helm chart nor a network configuration can;
 * - it takes BOTH CHAINNODE_BYZANTINE=<mode> AND CHAINNODE_TEST_ONLY_BYZANTINE=i-understand;
 *   the mode without the acknowledgement, an unknown mode, a peer, NODE_ENV=production (the
 *   container image) or the compiled build (dist/, what `npm start`, `npx chainnode` and the
 *   image run: tests run the TypeScript sources) are start-up errors, never a silent fallback;
 * - a node that does start Byzantine says so at error level ("BYZANTINE MODE ... test only").
 * With the variables unset the orderer sends exactly what the core produced and serves blocks
 * as before: the hooks in orderer-role.ts and delivery.ts do nothing.
 */

export const BYZANTINE_MODES = [
  /** As leader: a second, validly signed PRE-PREPARE (another block at the same height) to half of the others, and votes to match. */
  'equivocate',
  /** PREPAREs and COMMITs for a block hash nobody proposed, to some of the others (and both versions to one). */
  'conflicting-votes',
  /** Every message with a corrupted signature (COMMITs: alternately the message signature or the commit vote). */
  'bad-signatures',
  /** Every send also re-sends old messages of earlier heights and views. */
  'replay',
  /** No consensus messages at all (it still listens, commits and serves blocks). */
  'silent',
  /** Honest consensus, but never serves blocks to peers or fetching orderers. */
  'withhold-blocks',
] as const;
export type ByzantineMode = (typeof BYZANTINE_MODES)[number];

export const BYZANTINE_MODE_ENV = 'CHAINNODE_BYZANTINE';
export const BYZANTINE_OPT_IN_ENV = 'CHAINNODE_TEST_ONLY_BYZANTINE';
export const BYZANTINE_OPT_IN = 'i-understand';

/** Tests run the TypeScript sources (tsx, jest); every build users run is compiled JavaScript. */
const RUNNING_FROM_SOURCES = import.meta.url.endsWith('.ts');

/** Old messages kept for `replay`. */
const REPLAY_HISTORY_MAX = 256;
/** Old messages re-sent alongside each batch of real sends. */
const REPLAYS_PER_SEND = 2;
/** The newest messages `replay` leaves alone (they are not old yet). */
const REPLAY_RECENT = 32;
/** Heights whose forged blocks `equivocate` remembers, to vote for them. */
const FORGERIES_MAX = 64;

export class ByzantineConfigError extends Error {
  override readonly name = 'ByzantineConfigError';
}

/**
 * The Byzantine mode the environment asks for, or undefined when none. Throws (a start-up
 * error) when the request is not allowed: see the comment at the top of this file.
 */
export function byzantineModeFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  options: { fromSources?: boolean } = {},
): ByzantineMode | undefined {
  const requested = env[BYZANTINE_MODE_ENV];
  if (requested === undefined || requested === '') return undefined;
  const mode = BYZANTINE_MODES.find((m) => m === requested);
  if (mode === undefined) {
    throw new ByzantineConfigError(
      `${BYZANTINE_MODE_ENV}="${requested}" is not a Byzantine mode (one of ${BYZANTINE_MODES.join(', ')})`,
    );
  }
  if (env[BYZANTINE_OPT_IN_ENV] !== BYZANTINE_OPT_IN) {
    throw new ByzantineConfigError(
      `${BYZANTINE_MODE_ENV}=${mode} makes this node misbehave on purpose, for tests only: ` +
        `refusing to start without ${BYZANTINE_OPT_IN_ENV}=${BYZANTINE_OPT_IN}`,
    );
  }
  if (env.NODE_ENV === 'production') {
    throw new ByzantineConfigError(`${BYZANTINE_MODE_ENV} is refused with NODE_ENV=production`);
  }
  if (!(options.fromSources ?? RUNNING_FROM_SOURCES)) {
    throw new ByzantineConfigError(
      `${BYZANTINE_MODE_ENV} is refused in a compiled build: run the TypeScript sources (tests do)`,
    );
  }
  return mode;
}

/** What the Byzantine orderer did, for its logs and the tests. */
export interface ByzantineCounters {
  equivocations: number;
  conflictingVotes: number;
  corruptedSignatures: number;
  replayed: number;
  silenced: number;
  withheldDeliveries: number;
}

/**
 * A Byzantine orderer's misbehaviour: transforms what the orderer sends (the Ready's send list,
 * after its votes are persisted, before the transport) and decides whether it serves blocks.
 * The core underneath stays honest; only what leaves the process lies. Deterministic: which
 * recipients are lied to rotates with the height, so every honest orderer meets every lie.
 */
export class ByzantineBehaviour {
  readonly counters: ByzantineCounters = {
    equivocations: 0,
    conflictingVotes: 0,
    corruptedSignatures: 0,
    replayed: 0,
    silenced: 0,
    withheldDeliveries: 0,
  };
  private readonly crypto: ConsensusCrypto;
  /** `equivocate`: per "view:height", the forged block's hash and who was told it. */
  private readonly forgeries = new Map<string, { hash: Hash; told: ReadonlySet<NodeName> }>();
  /** `replay`: messages sent, oldest first, and where the next replay starts. */
  private readonly history: Outbound[] = [];
  private replayCursor = 0;
  private commitsSeen = 0;

  constructor(
    readonly mode: ByzantineMode,
    private readonly self: NodeName,
    signer: Pick<ConsensusCrypto, 'sign'>,
    private readonly logger?: Logger,
  ) {
    this.crypto = { sign: (domain, bytes) => signer.sign(domain, bytes), verify: () => false };
  }

  /** What to send instead of `send`. */
  transform(send: readonly Outbound[]): Outbound[] {
    switch (this.mode) {
      case 'equivocate':
        return send.flatMap((out) => this.equivocate(out));
      case 'conflicting-votes':
        return send.flatMap((out) => this.conflictingVotes(out));
      case 'bad-signatures':
        return send.map((out) => ({ to: out.to, message: this.corrupt(out.message) }));
      case 'replay':
        return this.replay(send);
      case 'silent':
        this.counters.silenced += send.length;
        return [];
      case 'withhold-blocks':
        return [...send];
      default: {
        const unreachable: never = this.mode;
        throw new Error(`unknown Byzantine mode ${String(unreachable)}`);
      }
    }
  }

  /** Whether to answer `peer`'s request for final blocks. */
  servesBlocks(peer: string): boolean {
    if (this.mode !== 'withhold-blocks') return true;
    const n = ++this.counters.withheldDeliveries;
    // Powers of two: the first refusal and a trickle after it, however hard the peer asks.
    if ((n & (n - 1)) === 0) this.logger?.warn({ peer, refusals: n }, 'BYZANTINE: withholding blocks');
    return false;
  }

  // ---------------------------------------------------------------- modes

  private equivocate(out: Outbound): Outbound[] {
    const { message } = out;
    if (message.from !== this.self) return [out];
    if (message.type === 'pre-prepare') {
      const { keep, turn, witness } = split(out.to, message.height);
      if (turn.length === 0) return [out];
      const { header, transactions } = message.block;
      const forgedBlock = buildBlock({
        height: header.height,
        prevHash: header.prevHash,
        transactions,
        timestampMs: header.timestampMs + 1,
        proposer: header.proposer,
      });
      const forged = this.resign(message, { block: forgedBlock });
      const hash = blockHash(forgedBlock.header);
      this.forgeries.set(`${message.view}:${message.height}`, { hash, told: new Set(turn) });
      for (const key of this.forgeries.keys()) {
        if (this.forgeries.size <= FORGERIES_MAX) break;
        this.forgeries.delete(key);
      }
      this.counters.equivocations++;
      this.logger?.warn(
        { view: message.view, height: message.height, told: turn, witness, forged: hash },
        'BYZANTINE: equivocating',
      );
      // The witness gets both, so the equivocation is provable (and counted) somewhere.
      const outs: Outbound[] = [
        { to: keep, message },
        { to: turn, message: forged },
      ];
      if (witness !== undefined) outs.push({ to: [witness], message: forged });
      return outs;
    }
    if (message.type === 'prepare' || message.type === 'commit') {
      const forgery = this.forgeries.get(`${message.view}:${message.height}`);
      if (forgery === undefined) return [out];
      // Those told the forged block hear that we vote for it.
      const told = out.to.filter((to) => forgery.told.has(to));
      const others = out.to.filter((to) => !forgery.told.has(to));
      const outs: Outbound[] = [];
      if (others.length > 0) outs.push({ to: others, message });
      if (told.length > 0) outs.push({ to: told, message: this.voteFor(message, forgery.hash) });
      return outs;
    }
    return [out];
  }

  private conflictingVotes(out: Outbound): Outbound[] {
    const { message } = out;
    if (message.from !== this.self || (message.type !== 'prepare' && message.type !== 'commit')) return [out];
    const { keep, turn, witness } = split(out.to, message.height);
    if (turn.length === 0 && witness === undefined) return [out];
    const conflicting = this.voteFor(
      message,
      sha256Hex(`chainnode:byzantine:${message.view}:${message.height}:${message.blockHash}`),
    );
    this.counters.conflictingVotes++;
    // The witness hears both votes (the second is the provable double vote); `turn` only the false one.
    const outs: Outbound[] = [];
    if (keep.length > 0) outs.push({ to: keep, message });
    const lied = witness === undefined ? turn : [...turn, witness];
    if (lied.length > 0) outs.push({ to: lied, message: conflicting });
    return outs;
  }

  private corrupt(message: ConsensusMessage): ConsensusMessage {
    this.counters.corruptedSignatures++;
    if (message.type === 'commit' && this.commitsSeen++ % 2 === 1) {
      // A valid message carrying a bad commit vote: the vote is checked separately.
      return this.resign(message, { vote: flipLastHexDigit(message.vote) });
    }
    return { ...message, signature: flipLastHexDigit(message.signature) };
  }

  private replay(send: readonly Outbound[]): Outbound[] {
    if (send.length === 0) return [];
    const outs = [...send];
    const old = this.history.length - REPLAY_RECENT;
    for (let i = 0; i < REPLAYS_PER_SEND && old > 0; i++) {
      const replayed = this.history[this.replayCursor % old];
      this.replayCursor++;
      if (replayed === undefined) continue;
      outs.push(replayed);
      this.counters.replayed++;
    }
    for (const out of send) {
      if (out.message.from !== this.self) continue;
      this.history.push(out);
      if (this.history.length > REPLAY_HISTORY_MAX) this.history.shift();
    }
    return outs;
  }

  // ---------------------------------------------------------------- forging

  /** `message` with `changes`, signed again with this orderer's key: a valid message that lies. */
  private resign<M extends ConsensusMessage>(message: M, changes: Partial<Unsigned<M>>): M {
    const body: Record<string, unknown> = { ...message, ...changes };
    delete body.signature;
    return signMessage<M>(body as Unsigned<M>, this.crypto);
  }

  /** The same PREPARE or COMMIT, validly signed, for `hash` instead. */
  private voteFor(
    message: Extract<ConsensusMessage, { type: 'prepare' | 'commit' }>,
    hash: Hash,
  ): ConsensusMessage {
    if (message.type === 'prepare') return this.resign(message, { blockHash: hash });
    const vote = this.crypto.sign(
      SigningDomain.commitVote,
      commitVoteBytes({ height: message.height, blockHash: hash, view: message.view }),
    );
    return this.resign(message, { blockHash: hash, vote });
  }
}

/**
 * Splits recipients for a lie at `height`: in a rotation of the sorted recipients by height,
 * the last half (rounded down) are told the lie (`turn`); the first of the rest, the
 * `witness`, hears both versions; `keep` (witness included) hears the truth.
 */
export function split(
  to: readonly NodeName[],
  height: number,
): { keep: NodeName[]; turn: NodeName[]; witness: NodeName | undefined } {
  const sorted = [...to].sort();
  const shift = sorted.length === 0 ? 0 : height % sorted.length;
  const rotated = [...sorted.slice(shift), ...sorted.slice(0, shift)];
  const cut = rotated.length - Math.floor(rotated.length / 2);
  const keep = rotated.slice(0, cut);
  const turn = rotated.slice(cut);
  return { keep, turn, witness: turn.length > 0 ? keep[0] : undefined };
}

/** The same length and alphabet (so the message still decodes), a different signature. */
export function flipLastHexDigit(signature: SignatureHex): SignatureHex {
  const last = parseInt(signature.slice(-1), 16);
  return (signature.slice(0, -1) + (last ^ 1).toString(16)) as SignatureHex;
}

/**
 * A Byzantine orderer for `node`: logs that it is one at error level and, for
 * `withhold-blocks`, closes its block delivery. Throws for a peer (the modes are an orderer's).
 */
export function enableByzantine(
  node: {
    readonly name: NodeName;
    readonly role: string;
    readonly store: ChainStore;
    readonly key: Pick<ConsensusCrypto, 'sign'>;
  },
  mode: ByzantineMode,
  logger: Logger,
): ByzantineBehaviour {
  if (node.role !== 'orderer') {
    throw new ByzantineConfigError(`${BYZANTINE_MODE_ENV} is for orderers; ${node.name} is a ${node.role}`);
  }
  logger.error(
    { mode, env: BYZANTINE_MODE_ENV },
    `BYZANTINE MODE ${mode}: this orderer misbehaves on purpose (test only, never in production)`,
  );
  const behaviour = new ByzantineBehaviour(mode, node.name, node.key, logger.child({ byzantine: mode }));
  if (mode === 'withhold-blocks') blockServingGates.set(node.store, (peer) => behaviour.servesBlocks(peer));
  return behaviour;
}
