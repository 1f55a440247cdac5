import { EventEmitter } from 'node:events';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import {
  loadLatestConfig,
  loadNetworkFile,
  MembershipVerifier,
  readNodeIdentity,
  type LoadedNetwork,
} from '../config/index.js';
import { CertificateKeyCache, SigningKey } from '../crypto/index.js';
import {
  ChainStore,
  LedgerError,
  nodeSchema,
  openDatabase,
  type ChainHead,
  type DatabaseHandle,
} from '../ledger/index.js';
import {
  blockHash,
  ValidationCode,
  type Block,
  type CommitCertificate,
  type NetworkConfig,
  type NodeEntry,
  type NodeName,
} from '../protocol/index.js';
import {
  Transport,
  type PeerIdentity,
  type SendResult,
  type TransportMetrics,
  type TransportOptions,
} from '../transport/index.js';
import { Channel, splitChannel, withChannel } from './channel.js';
import { DeliveryServer } from './delivery.js';
import {
  decodeNodeMessage,
  encodeDeliver,
  encodeStatus,
  statusProblem,
  type NodeMessage,
  type StatusMessage,
} from './messages.js';

/** A node announces its head to the others at most this often. */
export const STATUS_INTERVAL_MS = 100;

export interface NodeOptions {
  /** Path of network.yaml; the node's key is read from the network directory beside it. */
  readonly networkFile: string;
  readonly name: string;
  /** PostgreSQL URL; otherwise DATABASE_URL; otherwise an embedded server under `dataDir`. */
  readonly databaseUrl?: string | undefined;
  /** Schema of this node's tables (default chainnode_<name>). */
  readonly schema?: string | undefined;
  /** Where the embedded PostgreSQL keeps its data (default <network dir>/data/<name>). */
  readonly dataDir?: string | undefined;
  /** Recheck the whole stored chain before serving (default true): refuse to run on a tampered database. */
  readonly verifyOnStart?: boolean;
  readonly logger: Logger;
  /** Test-only: dial members somewhere else than their configured address (see TransportOptions). */
  readonly dialAddress?: TransportOptions['dialAddress'];
}

/** A block as this node committed it, with the validation codes it recorded. */
export interface CommittedBlock {
  readonly block: Block;
  readonly codes: readonly number[];
}

/** What a role (orderer, peer) hears from the node it runs in. */
export interface RoleHandlers {
  onBlock?(from: PeerIdentity, block: Block, certificate: CommitCertificate | null): void;
  onConsensus?(from: PeerIdentity, body: Buffer): void;
  onPeerStatus?(from: PeerIdentity, status: PeerStatus): void;
  /** Endorsement and submission traffic between gateways, endorsers and orderers. */
  onRequest?(
    from: PeerIdentity,
    message: Extract<NodeMessage, { type: 'endorse' | 'endorsed' | 'submit' }>,
  ): void;
}

export interface PeerStatus {
  readonly height: number;
  readonly headHash: string;
  readonly receivedAtMs: number;
}

/** The error a node start-up fails with when its stored chain does not verify. */
export class TamperedChainError extends Error {
  override readonly name = 'TamperedChainError';
  readonly code = 'NODE_CHAIN_TAMPERED';
}

/**
 * One Chainnode process: its identity from the network directory, its chain in PostgreSQL,
 * and its mutual-TLS links to the other members. The orderer and peer roles build on this.
 */
export class ChainNode {
  private readonly peers = new Map<string, PeerStatus>();
  readonly keys = new CertificateKeyCache();
  private stopping: Promise<void> | undefined;
  private readonly delivery: DeliveryServer;
  private lastStatusAtMs = 0;
  /** Members whose status we logged since their link came up. */
  private readonly statusLogged = new Set<string>();
  private statusTimer: NodeJS.Timeout | undefined;
  private readonly handlers: RoleHandlers[] = [];
  /** 'block' with a CommittedBlock after every commit: for the API's event stream and metrics. */
  readonly events = new EventEmitter<{ block: [CommittedBlock] }>();
  private configInForce: NetworkConfig;
  /** The height of the block that put configInForce in force (0: genesis). */
  private configSince: number;
  /** The height of the newest config block, applied or refused: where the consensus epoch began. */
  private epochSince: number;
  /** The configuration the transport uses: configInForce, or a newer one known from the network directory. */
  private transportConfig: NetworkConfig;
  private membersVerifier: MembershipVerifier;
  private lastSelfEntry: NodeEntry;
  private membersFor: NetworkConfig;

  private constructor(
    readonly name: NodeName,
    readonly role: 'orderer' | 'peer',
    readonly network: LoadedNetwork,
    /** This node's signing key (endorsements, votes, status); never logged. */
    readonly key: SigningKey,
    private readonly database: DatabaseHandle,
    readonly store: ChainStore,
    private head: ChainHead,
    private transport: Transport | undefined,
    readonly logger: Logger,
    config: { readonly config: NetworkConfig; readonly height: number },
    epochStart: number,
    transportConfig: NetworkConfig,
    selfEntry: NodeEntry,
  ) {
    this.configInForce = config.config;
    this.configSince = config.height;
    this.epochSince = epochStart;
    this.transportConfig = transportConfig;
    this.lastSelfEntry = selfEntry;
    this.membersFor = config.config;
    this.membersVerifier = new MembershipVerifier(config.config);
    this.delivery = new DeliveryServer(
      store,
      (to, body) => this.send(to, Channel.node, body),
      logger.child({ component: 'delivery' }),
    );
  }

  static async start(options: NodeOptions): Promise<ChainNode> {
    const log = options.logger;
    const networkDir = dirname(options.networkFile);
    const network = await loadNetworkFile(options.networkFile);
    // The newest configuration the directory knows (genesis plus recorded updates): a node
    // added after genesis finds itself there, and the members to connect to.
    const known = await loadLatestConfig(networkDir, network.config);
    const identity = await readNodeIdentity(networkDir, known, options.name);
    const key = SigningKey.fromPem(identity.keyPem);
    const database = await openDatabase({
      dir: options.dataDir ?? join(networkDir, 'data', identity.entry.name),
      databaseUrl: options.databaseUrl,
      onLog: (line) => {
        log.debug({ component: 'postgres' }, line);
      },
    });
    let store: ChainStore | undefined;
    try {
      store = await ChainStore.open({
        connectionString: database.url,
        schema: options.schema ?? nodeSchema(identity.entry.name),
        // Orderers keep the chain only; peers also keep the world state.
        worldState: identity.role === 'peer',
      });
      const head = await ChainNode.initialiseChain(store, network, options.verifyOnStart ?? true, log);
      const config = (await store.latestConfig()) ?? { config: network.config, height: 0 };
      // The chain's configuration governs validation and consensus; a newer one from the
      // directory only tells the transport whom to connect to until the chain catches up.
      const transportConfig = known.sequence > config.config.sequence ? known : config.config;
      const node = new ChainNode(
        identity.entry.name,
        identity.role,
        network,
        key,
        database,
        store,
        head,
        undefined,
        log,
        config,
        await store.lastConfigBlockHeight(),
        transportConfig,
        identity.entry,
      );
      node.transport = await Transport.start({
        config: transportConfig,
        name: identity.entry.name,
        keyPem: identity.keyPem,
        logger: log.child({ component: 'transport' }),
        dialAddress: options.dialAddress,
        onMessage: (from, payload) => {
          node.onMessage(from, payload);
        },
        onPeerUp: (peer) => {
          log.info({ peer: peer.name, role: peer.role, org: peer.org }, 'peer up');
          node.sendStatus(peer.name);
        },
        onPeerDown: (peer, reason) => {
          log.info({ peer: peer.name, reason }, 'peer down');
          node.delivery.forget(peer.name);
          node.statusLogged.delete(peer.name);
        },
      });
      log.info(
        {
          role: node.role,
          org: identity.entry.org,
          height: head.height,
          headHash: head.hash,
          listen: node.transport.address,
          database: database.description,
        },
        'node ready',
      );
      return node;
    } catch (e) {
      await store?.close();
      await database.stop();
      throw e;
    }
  }

  /** Writes the genesis block into an empty database, or checks the stored chain is this network's and intact. */
  private static async initialiseChain(
    store: ChainStore,
    network: LoadedNetwork,
    verify: boolean,
    log: Logger,
  ): Promise<ChainHead> {
    const head = await store.head();
    if (head === null) {
      log.info({ genesisHash: network.genesisHash }, 'empty database: writing the genesis block');
      return store.appendBlock({
        block: network.genesis,
        validationCodes: [ValidationCode.VALID],
        commitCertificate: null,
      });
    }
    const genesis = await store.getBlock(0);
    if (genesis?.hash !== network.genesisHash) {
      throw new LedgerError(
        'LEDGER_CORRUPT_ROW',
        `schema ${store.schema} holds the chain of another network (genesis ${genesis?.hash ?? 'missing'}, expected ${network.genesisHash})`,
      );
    }
    if (verify) {
      const started = Date.now();
      const report = await store.verify();
      if (!report.ok) {
        throw new TamperedChainError(
          `stored chain fails verification at block ${report.height}: ${report.problem}`,
        );
      }
      log.info({ blocks: report.blocks, ms: Date.now() - started }, 'stored chain verified');
    }
    return head;
  }

  get chainHead(): ChainHead {
    return this.head;
  }

  /** The configuration in force for the next block. */
  get config(): NetworkConfig {
    return this.configInForce;
  }

  /**
   * This node's entry in the newest configuration it knows (its transport's): the one in force,
   * or a newer one from the network directory while it catches up (a node added, or given a new
   * key, after the head it has reached).
   */
  get selfEntry(): NodeEntry {
    const find = (config: NetworkConfig) =>
      [...config.orderers, ...config.peers].find((n) => n.name === this.name);
    // The newest known first: after a key rotation its certificate is the one for our key.
    const entry = find(this.transportConfig) ?? find(this.configInForce);
    // A removed node keeps answering (its status says so) under its last entry.
    if (entry !== undefined) this.lastSelfEntry = entry;
    return this.lastSelfEntry;
  }

  /** The height of the block that put the configuration in force (0: genesis). */
  get configHeight(): number {
    return this.configSince;
  }

  /**
   * Where the consensus epoch began: the newest config block, which a refused update's block
   * is too (the core ends an epoch at every config block; the configuration then stays).
   */
  get epochStart(): number {
    return this.epochSince;
  }

  /**
   * Certificate checks against the configuration in force. One verifier per configuration, so
   * its cache of verified certificates is shared by every role and never outlives a change.
   */
  get members(): MembershipVerifier {
    if (this.membersFor !== this.configInForce) {
      this.membersVerifier = new MembershipVerifier(this.configInForce);
      this.membersFor = this.configInForce;
    }
    return this.membersVerifier;
  }

  /** The latest signed status each peer sent us. */
  peerStatuses(): ReadonlyMap<string, PeerStatus> {
    return this.peers;
  }

  transportMetrics(): TransportMetrics | undefined {
    return this.transport?.metrics();
  }

  connectedPeers(): PeerIdentity[] {
    return this.transport?.connectedPeers() ?? [];
  }

  /** A role (orderer, peer) plugs in here to hear blocks, consensus messages and peer news. */
  addHandlers(handlers: RoleHandlers): void {
    this.handlers.push(handlers);
  }

  send(to: string, channel: Channel, body: Uint8Array): SendResult {
    return this.transport?.send(to, withChannel(channel, body)) ?? 'closed';
  }

  broadcast(channel: Channel, body: Uint8Array): void {
    this.transport?.broadcast(withChannel(channel, body));
  }

  /** Asks `from` for up to `count` final blocks starting at `fromHeight`. */
  requestBlocks(from: string, fromHeight: number, count: number): SendResult {
    return this.send(from, Channel.node, encodeDeliver(fromHeight, count));
  }

  /**
   * Commits a final block with its validation codes, then tells subscribers and peers. The
   * caller has checked the certificate and computed the codes; the store re-checks the link.
   */
  async commitBlock(
    block: Block,
    codes: readonly number[],
    certificate: CommitCertificate,
    nextConfig?: NetworkConfig,
  ): Promise<ChainHead> {
    this.head = await this.store.appendBlock({
      block,
      validationCodes: codes,
      commitCertificate: certificate,
    });
    this.committed(block, codes, certificate, nextConfig);
    return this.head;
  }

  /**
   * A block whose commit this process did not see succeed (the database's answer was lost) but
   * which the store holds, with the same hash: takes it as committed, with the stored codes,
   * as commitBlock would have; returns the stored codes. Throws if the store holds another block
   * at that height.
   */
  async adoptStoredBlock(
    block: Block,
    certificate: CommitCertificate,
    nextConfig: (codes: readonly number[]) => NetworkConfig | undefined,
  ): Promise<readonly number[]> {
    const height = block.header.height;
    const stored = await this.store.getBlock(height);
    const hash = blockHash(block.header);
    if (stored === null || stored.hash !== hash) {
      throw new Error(
        `block ${height} in the store is ${stored === null ? 'missing' : `${stored.hash}, not ${hash}`}`,
      );
    }
    this.head = { height, hash };
    this.committed(block, stored.validationCodes, certificate, nextConfig(stored.validationCodes));
    return stored.validationCodes;
  }

  private committed(
    block: Block,
    codes: readonly number[],
    certificate: CommitCertificate,
    nextConfig: NetworkConfig | undefined,
  ): void {
    if (block.transactions.some((e) => e.payload.type === 'config')) this.epochSince = block.header.height;
    if (nextConfig !== undefined && nextConfig.sequence !== this.configInForce.sequence) {
      this.configInForce = nextConfig;
      this.configSince = block.header.height;
      if (nextConfig.sequence >= this.transportConfig.sequence) {
        this.transportConfig = nextConfig;
        this.transport?.updateConfig(nextConfig);
      }
      this.logger.info(
        { sequence: nextConfig.sequence, height: block.header.height },
        'configuration changed',
      );
    }
    this.delivery.committed(block, certificate);
    this.broadcastStatus();
    this.events.emit('block', { block, codes } satisfies CommittedBlock);
  }

  /**
   * Announces the head to every member, at most every STATUS_INTERVAL_MS: each status is signed
   * and checked by every receiver, and a busy network commits many blocks a second. The last
   * head is always announced (trailing send).
   */
  private broadcastStatus(): void {
    if (this.statusTimer !== undefined) return;
    const wait = this.lastStatusAtMs + STATUS_INTERVAL_MS - Date.now();
    if (wait <= 0) {
      this.lastStatusAtMs = Date.now();
      this.broadcast(Channel.node, this.statusBody());
      return;
    }
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      this.broadcastStatus();
    }, wait);
    this.statusTimer.unref();
  }

  private sendStatus(to: string): void {
    this.send(to, Channel.node, this.statusBody());
  }

  private statusBody(): Buffer {
    return encodeStatus(this.key, {
      from: this.name,
      genesisHash: this.network.genesisHash,
      height: this.head.height,
      headHash: this.head.hash,
      sentAtMs: Date.now(),
    });
  }

  private onMessage(from: PeerIdentity, payload: Buffer): void {
    const split = splitChannel(payload);
    if (split === null) return;
    if (split.channel === Channel.consensus) {
      for (const h of this.handlers) h.onConsensus?.(from, split.body);
      return;
    }
    if (split.channel !== Channel.node) {
      this.logger.warn({ peer: from.name, channel: split.channel }, 'message on an unknown channel dropped');
      return;
    }
    let message;
    try {
      message = decodeNodeMessage(split.body);
    } catch (e) {
      this.logger.warn({ peer: from.name, problem: (e as Error).message }, 'malformed node message dropped');
      return;
    }
    switch (message.type) {
      case 'status': {
        // The transport's configuration: a joining node's chain does not name the others yet.
        const member = [...this.transportConfig.orderers, ...this.transportConfig.peers].find(
          (m) => m.name === from.name,
        );
        const problem =
          member === undefined ? 'not a member' : statusProblem(message, from.name, member.cert, this.keys);
        if (problem !== null) {
          this.logger.warn({ peer: from.name, problem }, 'bad status message dropped');
          return;
        }
        this.recordStatus(message.status, from);
        return;
      }
      case 'deliver':
        this.delivery.request(from.name, message.fromHeight, message.count);
        return;
      case 'block':
        for (const h of this.handlers) h.onBlock?.(from, message.block, message.certificate);
        return;
      case 'endorse':
      case 'endorsed':
      case 'submit':
        for (const h of this.handlers) h.onRequest?.(from, message);
        return;
      default: {
        const unreachable: never = message;
        this.logger.warn({ peer: from.name, message: unreachable }, 'unknown node message dropped');
      }
    }
  }

  private recordStatus(status: StatusMessage, from: PeerIdentity): void {
    if (status.genesisHash !== this.network.genesisHash) {
      this.logger.error({ peer: status.from, genesisHash: status.genesisHash }, 'peer is on another network');
      return;
    }
    const known = { height: status.height, headHash: status.headHash, receivedAtMs: Date.now() };
    this.peers.set(status.from, known);
    // The first status over a link is worth a line; the next ones (up to ten a second) are not.
    const level = this.statusLogged.has(status.from) ? 'debug' : 'info';
    this.statusLogged.add(status.from);
    this.logger[level](
      { peer: status.from, height: status.height, headHash: status.headHash },
      'peer status',
    );
    for (const h of this.handlers) h.onPeerStatus?.(from, known);
  }

  /** Says goodbye to peers, closes the database and stops an embedded server; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info({}, 'node stopping');
      clearTimeout(this.statusTimer);
      await this.transport?.close();
      await this.store.close();
      await this.database.stop();
      this.logger.info({}, 'node stopped');
    })();
    return this.stopping;
  }
}
