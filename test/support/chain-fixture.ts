import { SigningKey } from '../../node/crypto/index.js';
import { generateNetwork, type NetworkMaterial } from '../../node/network/index.js';
import {
  blockHash,
  type Block,
  type CommitCertificate,
  type Envelope,
  type Hash,
  type NetworkConfig,
  type NodeName,
  type WriteEntry,
} from '../../node/protocol/index.js';
import {
  certifyLocally,
  sampleTrade,
  tradeEnvelope as signedTrade,
  type Signer,
  type Trade,
} from '../../node/workload/index.js';

export { sampleTrade, type Trade };

/** A generated network with its keys parsed, for tests that sign as its members. */
export interface TestNetwork {
  readonly material: NetworkMaterial;
  readonly config: NetworkConfig;
  readonly genesis: Block;
  readonly orderers: readonly (Signer & { readonly name: NodeName })[];
  readonly peers: readonly Signer[];
  readonly admin: Signer;
  readonly client: Signer;
}

export async function makeTestNetwork(
  options: { orderers?: number; orgs?: number } = {},
): Promise<TestNetwork> {
  const material = await generateNetwork({
    orderers: options.orderers ?? 4,
    orgs: options.orgs ?? 2,
    networkId: 'testnet',
  });
  const signer = (org: string, cert: string, keyPem: string): Signer => ({
    identity: { org: org as Signer['identity']['org'], cert },
    key: SigningKey.fromPem(keyPem),
  });
  const user = (role: 'admin' | 'client'): Signer => {
    const u = material.users.find((x) => x.role === role && x.org === 'org1');
    if (u === undefined) throw new Error(`no org1 ${role}`);
    return signer(u.org, u.certPem, u.keyPem);
  };
  return {
    material,
    config: material.config,
    genesis: material.genesis,
    orderers: material.orderers.map((o) => ({
      ...signer(o.entry.org, o.entry.cert, o.keyPem),
      name: o.entry.name,
    })),
    peers: material.peers.map((p) => signer(p.entry.org, p.entry.cert, p.keyPem)),
    admin: user('admin'),
    client: user('client'),
  };
}

/** A trade transaction from the network's client, endorsed by every peer. */
export function tradeEnvelope(
  net: TestNetwork,
  trade: Trade,
  extraWrites: readonly WriteEntry[] = [],
): Envelope {
  return signedTrade(net.client, net.peers, trade, extraWrites);
}

export function certifiedBlock(
  net: TestNetwork,
  prev: { height: number; hash: Hash },
  transactions: readonly Envelope[],
): { block: Block; commitCertificate: CommitCertificate } {
  return certifyLocally(net.orderers, prev, transactions, Date.now());
}

export function genesisHead(net: TestNetwork): { height: number; hash: Hash } {
  return { height: 0, hash: blockHash(net.genesis.header) };
}
