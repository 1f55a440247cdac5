import { randomBytes } from 'node:crypto';
import { createOrgCa, issueNodeCert, issueUserCert } from '../../certs/index.js';
import { assembleCommitCertificate, signCommitVote } from '../../node/consensus/index.js';
import { SigningKey } from '../../node/crypto/index.js';
import {
  blockHash,
  buildBlock,
  buildGenesisBlock,
  canonicalBytes,
  configTxId,
  proposalTxId,
  PROTOCOL_VERSION,
  quorumSize,
  sha256Hex,
  SigningDomain,
  type Block,
  type CommitCertificate,
  type ConfigPayload,
  type InvokePayload,
  type Envelope,
  type Hash,
  type Identity,
  type NetworkConfig,
  type NodeEntry,
  type NodeName,
  type OrgName,
  type Proposal,
  type ProposalResponse,
  type WriteEntry,
} from '../../node/protocol/index.js';

export interface Member {
  readonly identity: Identity;
  readonly key: SigningKey;
}

export interface TestNetwork {
  readonly config: NetworkConfig;
  readonly orderers: readonly (Member & { readonly name: NodeName })[];
  readonly peers: readonly Member[];
  readonly admin: Member;
  readonly client: Member;
  readonly genesis: Block;
}

const VALIDITY_DAYS = 30;

/**
 * A complete, correctly signed network with real certificates from real org CAs: what
 * `network init` will produce, built in memory for ledger and protocol tests.
 */
export async function makeTestNetwork(
  options: { orderers?: number; orgs?: number } = {},
): Promise<TestNetwork> {
  const ordererCount = options.orderers ?? 4;
  const orgNames = Array.from({ length: options.orgs ?? 2 }, (_, i) => `org${i + 1}` as OrgName);
  const cas = await Promise.all(orgNames.map((org) => createOrgCa({ org, validityDays: VALIDITY_DAYS })));
  const caOf = (org: string) => cas[orgNames.indexOf(org as OrgName)] as (typeof cas)[number];

  const nodeMember = async (org: OrgName, role: 'orderer' | 'peer', name: string, port: number) => {
    const issued = await issueNodeCert({
      ca: caOf(org),
      org,
      role,
      name,
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      validityDays: VALIDITY_DAYS,
    });
    const entry: NodeEntry = {
      name: name as NodeName,
      org,
      host: '127.0.0.1',
      port,
      apiPort: port + 1000,
      cert: issued.certPem,
    };
    return {
      entry,
      member: { identity: { org, cert: issued.certPem }, key: SigningKey.fromPem(issued.keyPem) },
    };
  };
  const orderers = await Promise.all(
    Array.from({ length: ordererCount }, (_, i) =>
      nodeMember(orgNames[i % orgNames.length] as OrgName, 'orderer', `orderer${i}`, 7050 + i),
    ),
  );
  const peers = await Promise.all(
    orgNames.map((org, i) => nodeMember(org, 'peer', `peer0-${org}`, 7150 + i)),
  );
  const user = async (org: OrgName, role: 'admin' | 'client', name: string): Promise<Member> => {
    const issued = await issueUserCert({ ca: caOf(org), org, role, name, validityDays: VALIDITY_DAYS });
    return { identity: { org, cert: issued.certPem }, key: SigningKey.fromPem(issued.keyPem) };
  };
  const admin = await user(orgNames[0] as OrgName, 'admin', 'admin');
  const client = await user(orgNames[0] as OrgName, 'client', 'client');

  const anyOrg = { or: orgNames.map((org) => ({ org })) };
  const config: NetworkConfig = {
    version: PROTOCOL_VERSION,
    networkId: 'testnet',
    sequence: 0,
    orgs: orgNames.map((name) => ({ name, caCerts: [caOf(name).certPem] })),
    orderers: orderers.map((o) => o.entry),
    peers: peers.map((p) => p.entry),
    policies: {
      submit: anyOrg,
      deploy: anyOrg,
      admin: anyOrg,
      endorsement: { and: orgNames.map((org) => ({ org })) },
    },
    consensus: {
      batchTxMax: 500,
      batchBytesMax: 4 * 1024 * 1024,
      batchTimeoutMs: 50,
      viewTimeoutMs: 2000,
      checkpointInterval: 100,
      window: 4,
    },
  };
  const approval = {
    signer: admin.identity,
    signature: admin.key.sign(SigningDomain.configApproval, canonicalBytes(config)),
  };
  const payload: ConfigPayload = {
    version: PROTOCOL_VERSION,
    type: 'config',
    txId: configTxId(admin.identity, config),
    creator: admin.identity,
    config,
    approvals: [approval],
  };
  const genesisEnvelope: Envelope = {
    payload,
    signature: admin.key.sign(SigningDomain.envelope, canonicalBytes(payload)),
  };
  return {
    config,
    orderers: orderers.map((o) => ({ ...o.member, name: o.entry.name })),
    peers: peers.map((p) => p.member),
    admin,
    client,
    genesis: buildGenesisBlock(genesisEnvelope, Date.UTC(2018, 0, 28, 14, 58, 16)),
  };
}

/** The sketch's trade: ISIN, buyer and seller as SHA-256 hashes, price and volume. */
export interface Trade {
  readonly isin: Hash;
  readonly buyer: Hash;
  readonly seller: Hash;
  readonly price: number;
  readonly volume: number;
}

export function sampleTrade(i: number): Trade {
  return {
    isin: sha256Hex(`DK00605349${String(i % 100).padStart(2, '0')}`),
    buyer: sha256Hex(`buyer-${i % 7}`),
    seller: sha256Hex(`seller-${i % 5}`),
    price: 20 + (i % 10),
    volume: 100 * (1 + (i % 40)),
  };
}

/** A fully signed `trade.record` transaction endorsed by one peer per org. */
export function tradeEnvelope(
  net: TestNetwork,
  trade: Trade,
  extraWrites: readonly WriteEntry[] = [],
): Envelope {
  const proposal: Proposal = {
    version: PROTOCOL_VERSION,
    contract: 'trade',
    fn: 'record',
    args: [trade.isin, trade.buyer, trade.seller, String(trade.price), String(trade.volume)],
    nonce: randomBytes(24).toString('hex'),
    creator: net.client.identity,
    timestampMs: Date.now(),
  };
  const txId = proposalTxId(proposal);
  const response: ProposalResponse = {
    version: PROTOCOL_VERSION,
    proposalHash: txId as string as Hash,
    rwset: {
      reads: [],
      writes: [
        { ns: 'trade', key: `trade~${txId}`, value: Buffer.from(JSON.stringify(trade)).toString('base64') },
        ...extraWrites,
      ],
    },
    result: txId,
    events: [{ name: 'TradeRecorded', payload: txId }],
  };
  const responseBytes = canonicalBytes(response);
  const endorsements = net.peers.map((p) => ({
    endorser: p.identity,
    signature: p.key.sign(SigningDomain.response, responseBytes),
  }));
  const payload: InvokePayload = {
    version: PROTOCOL_VERSION,
    type: 'invoke',
    txId,
    proposal,
    response,
    endorsements,
  };
  return { payload, signature: net.client.key.sign(SigningDomain.envelope, canonicalBytes(payload)) };
}

/** Builds the block on top of `prev` and has a quorum of orderers sign it final. */
export function certifiedBlock(
  net: TestNetwork,
  prev: { height: number; hash: Hash },
  transactions: readonly Envelope[],
): { block: Block; commitCertificate: CommitCertificate } {
  const block = buildBlock({
    height: prev.height + 1,
    prevHash: prev.hash,
    transactions,
    timestampMs: Date.now(),
    proposer: (net.orderers[0] as Member & { name: NodeName }).name,
  });
  const signers = net.orderers.slice(0, quorumSize(net.orderers.length));
  const view = 0;
  const votes = signers.map((o) => signCommitVote(o.key, o.name, block.header, view));
  return { block, commitCertificate: assembleCommitCertificate(block.header, view, votes) };
}

export function genesisHead(net: TestNetwork): { height: number; hash: Hash } {
  return { height: 0, hash: blockHash(net.genesis.header) };
}
