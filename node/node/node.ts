import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { loadNetworkFile, readNodeIdentity, type LoadedNetwork } from '../config/index.js';
import { CertificateKeyCache, SigningKey } from '../crypto/index.js';
import {
  ChainStore,
  LedgerError,
  nodeSchema,
  openDatabase,
  type ChainHead,
  type DatabaseHandle,
} from '../ledger/index.js';
import { ValidationCode, type NodeName } from '../protocol/index.js';
import { Transport, type PeerIdentity } from '../transport/index.js';
import { Channel, splitChannel, withChannel } from './channel.js';
import { openStatus, signStatus, type StatusMessage } from './messages.js';

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
  private readonly keys = new CertificateKeyCache();
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly name: NodeName,
    readonly role: 'orderer' | 'peer',
    readonly network: LoadedNetwork,
    private readonly key: SigningKey,
    private readonly database: DatabaseHandle,
    readonly store: ChainStore,
    private head: ChainHead,
    private transport: Transport | undefined,
    private readonly logger: Logger,
  ) {}

  static async start(options: NodeOptions): Promise<ChainNode> {
    const log = options.logger;
    const networkDir = dirname(options.networkFile);
    const network = await loadNetworkFile(options.networkFile);
    const identity = await readNodeIdentity(networkDir, network.config, options.name);
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
      });
      const head = await ChainNode.initialiseChain(store, network, options.verifyOnStart ?? true, log);
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
      );
      node.transport = await Transport.start({
        config: network.config,
        name: identity.entry.name,
        keyPem: identity.keyPem,
        logger: log.child({ component: 'transport' }),
        onMessage: (from, payload) => {
          node.onMessage(from, payload);
        },
        onPeerUp: (peer) => {
          log.info({ peer: peer.name, role: peer.role, org: peer.org }, 'peer up');
          node.sendStatus(peer.name);
        },
        onPeerDown: (peer, reason) => {
          log.info({ peer: peer.name, reason }, 'peer down');
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

  /** The latest signed status each peer sent us. */
  peerStatuses(): ReadonlyMap<string, PeerStatus> {
    return this.peers;
  }

  connectedPeers(): PeerIdentity[] {
    return this.transport?.connectedPeers() ?? [];
  }

  private sendStatus(to: string): void {
    const body = signStatus(this.key, {
      from: this.name,
      genesisHash: this.network.genesisHash,
      height: this.head.height,
      headHash: this.head.hash,
      sentAtMs: Date.now(),
    });
    this.transport?.send(to, withChannel(Channel.node, body));
  }

  private onMessage(from: PeerIdentity, payload: Buffer): void {
    const split = splitChannel(payload);
    if (split?.channel !== Channel.node) {
      this.logger.warn({ peer: from.name, channel: split?.channel }, 'message on an unknown channel dropped');
      return;
    }
    const member = [...this.network.config.orderers, ...this.network.config.peers].find(
      (m) => m.name === from.name,
    );
    if (member === undefined) return;
    const verdict = openStatus(split.body, from.name, member.cert, this.keys);
    if (!verdict.ok) {
      this.logger.warn({ peer: from.name, problem: verdict.problem }, 'bad status message dropped');
      return;
    }
    this.recordStatus(verdict.status);
  }

  private recordStatus(status: StatusMessage): void {
    if (status.genesisHash !== this.network.genesisHash) {
      this.logger.error({ peer: status.from, genesisHash: status.genesisHash }, 'peer is on another network');
      return;
    }
    this.peers.set(status.from, {
      height: status.height,
      headHash: status.headHash,
      receivedAtMs: Date.now(),
    });
    this.logger.info({ peer: status.from, height: status.height, headHash: status.headHash }, 'peer status');
  }

  /** Says goodbye to peers, closes the database and stops an embedded server; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info({}, 'node stopping');
      await this.transport?.close();
      await this.store.close();
      await this.database.stop();
      this.logger.info({}, 'node stopped');
    })();
    return this.stopping;
  }
}
