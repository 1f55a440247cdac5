import { ContractRuntime } from '../contracts/index.js';
import type { ChainNode } from '../node/index.js';
import { Committer } from './committer.js';
import { Endorser } from './endorser.js';
import { Gateway } from './gateway.js';
import { WorldStateCache } from './state-cache.js';

/**
 * Everything a peer does on top of the node: commit (follow, validate, apply), endorse
 * (simulate contracts), and serve as a gateway for clients.
 */
export class PeerRole {
  private constructor(
    readonly node: ChainNode,
    readonly committer: Committer,
    readonly endorser: Endorser,
    readonly gateway: Gateway,
    private readonly runtime: ContractRuntime,
  ) {}

  static async attach(node: ChainNode): Promise<PeerRole> {
    if (node.role !== 'peer') throw new Error(`${node.name} is an ${node.role}, not a peer`);
    const runtime = await ContractRuntime.create();
    const cache = new WorldStateCache(node.store);
    const committer = new Committer(node, cache);
    const endorser = new Endorser({
      store: node.store,
      cache,
      runtime,
      // The certificate of the configuration in force: a renewal (same key) is used at once.
      self: {
        get identity() {
          const current = node.selfEntry;
          return { org: current.org, cert: current.cert };
        },
        key: node.key,
      },
      keys: node.keys,
      current: () => ({ config: node.config, members: node.members }),
    });
    const gateway = new Gateway(node, endorser, committer, cache);
    node.addHandlers({
      onBlock: (from, block, certificate) => {
        committer.onBlock(from, block, certificate);
      },
      onPeerStatus: (from, status) => {
        committer.onPeerStatus(from, status);
      },
      onRequest: (from, message) => {
        gateway.onRequest(from, message);
      },
    });
    // Statuses that arrived before we attached still tell us whom to follow.
    for (const peer of node.connectedPeers()) {
      const status = node.peerStatuses().get(peer.name);
      if (status !== undefined) committer.onPeerStatus(peer, status);
    }
    return new PeerRole(node, committer, endorser, gateway, runtime);
  }

  stop(): void {
    this.committer.stop();
    this.gateway.stop();
    this.runtime.dispose();
  }
}
