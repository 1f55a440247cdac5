import { createOrgCa, issueNodeCert, issueUserCert, type CertificateWithKey } from '../../certs/index.js';
import { approveConfig, configEnvelope } from '../config/update.js';
import {
  buildGenesisBlock,
  PROTOCOL_VERSION,
  type Block,
  type ConsensusParams,
  type Envelope,
  type NetworkConfig,
  type NodeEntry,
  type NodeName,
  type OrgName,
  type PolicyExpr,
} from '../protocol/index.js';

export type NodeRole = 'orderer' | 'peer';
export type UserRole = 'admin' | 'client';

export interface GeneratedCa {
  readonly org: OrgName;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface GeneratedNode {
  readonly role: NodeRole;
  readonly entry: NodeEntry;
  readonly keyPem: string;
}

export interface GeneratedUser {
  readonly org: OrgName;
  readonly role: UserRole;
  readonly name: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** Everything a new network consists of: CAs, node and user identities, and the genesis block. */
export interface NetworkMaterial {
  readonly config: NetworkConfig;
  readonly genesis: Block;
  readonly cas: readonly GeneratedCa[];
  readonly orderers: readonly GeneratedNode[];
  readonly peers: readonly GeneratedNode[];
  readonly users: readonly GeneratedUser[];
}

/** Where a node listens; the defaults put a whole network on 127.0.0.1 with distinct ports. */
export interface NodeAddress {
  readonly host: string;
  readonly port: number;
  readonly apiPort: number;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

export interface GenerateNetworkOptions {
  readonly networkId?: string;
  readonly orderers?: number;
  readonly orgs?: number;
  readonly peersPerOrg?: number;
  readonly validityDays?: number;
  readonly consensus?: Partial<ConsensusParams>;
  readonly address?: (role: NodeRole, name: string, index: number) => NodeAddress;
  readonly now?: Date;
}

export const DEFAULT_ORDERERS = 4;
export const DEFAULT_ORGS = 2;
export const DEFAULT_PEERS_PER_ORG = 1;
export const DEFAULT_VALIDITY_DAYS = 365;
/** Consensus defaults: blocks of up to 500 tx / 2 MiB cut after 50 ms, 4 in flight (a view change then carries at most 8 MiB). */
export const DEFAULT_CONSENSUS: ConsensusParams = {
  batchTxMax: 500,
  batchBytesMax: 2 * 1024 * 1024,
  batchTimeoutMs: 50,
  viewTimeoutMs: 2_000,
  checkpointInterval: 100,
  window: 4,
};
const ORDERER_PORT_BASE = 7050;
const PEER_PORT_BASE = 7150;
const API_PORT_OFFSET = 1000;

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_BASE_PORT = ORDERER_PORT_BASE;
/** Largest port a network may take: its last peer's API port. */
const PORT_MAX = 65_535;

/**
 * Addresses for a network on one host: orderers from `basePort`, peers 100 above, API ports
 * 1000 above each. Any 127.x.y.z works as a host, so tests can run networks side by side.
 */
export function localAddresses(
  host: string = DEFAULT_HOST,
  basePort: number = DEFAULT_BASE_PORT,
): (role: NodeRole, name: string, index: number) => NodeAddress {
  if (
    !Number.isInteger(basePort) ||
    basePort < 1 ||
    basePort + API_PORT_OFFSET + 2 * (PEER_PORT_BASE - ORDERER_PORT_BASE) > PORT_MAX
  ) {
    throw new RangeError(
      `base port ${basePort} leaves no room for the network's ports below ${PORT_MAX + 1}`,
    );
  }
  const isIp = /^[0-9.]+$/.test(host) || host.includes(':');
  return (role, _name, index) => {
    const port = basePort + (role === 'orderer' ? 0 : PEER_PORT_BASE - ORDERER_PORT_BASE) + index;
    return {
      host,
      port,
      apiPort: port + API_PORT_OFFSET,
      dnsNames: isIp ? ['localhost'] : [host, 'localhost'],
      ipAddresses: isIp ? [host] : [DEFAULT_HOST],
    };
  };
}

export const defaultAddress = localAddresses();

export function ordererName(index: number): NodeName {
  return `orderer${index}` as NodeName;
}

export function peerName(org: string, index: number): NodeName {
  return `peer${index}-${org}` as NodeName;
}

/**
 * Generates a complete network: one CA per organisation, a certificate and key for every
 * orderer, peer, admin and client, and the genesis block holding the network configuration
 * approved by every organisation's admin. Orderers are spread over the organisations.
 */
export async function generateNetwork(options: GenerateNetworkOptions = {}): Promise<NetworkMaterial> {
  const ordererCount = options.orderers ?? DEFAULT_ORDERERS;
  const orgCount = options.orgs ?? DEFAULT_ORGS;
  const peersPerOrg = options.peersPerOrg ?? DEFAULT_PEERS_PER_ORG;
  for (const [what, value, min] of [
    ['orderers', ordererCount, 1],
    ['orgs', orgCount, 1],
    ['peersPerOrg', peersPerOrg, 0],
  ] as const) {
    if (!Number.isInteger(value) || value < min)
      throw new RangeError(`${what} must be an integer >= ${min}, got ${value}`);
  }
  const validityDays = options.validityDays ?? DEFAULT_VALIDITY_DAYS;
  const address = options.address ?? defaultAddress;
  const now = options.now ?? new Date();
  const orgNames = Array.from({ length: orgCount }, (_, i) => `org${i + 1}` as OrgName);
  const caList = await Promise.all(orgNames.map((org) => createOrgCa({ org, validityDays, now })));
  const caOf = (org: OrgName): CertificateWithKey => caList[orgNames.indexOf(org)] as CertificateWithKey;

  const node = async (
    role: NodeRole,
    org: OrgName,
    name: NodeName,
    index: number,
  ): Promise<GeneratedNode> => {
    const at = address(role, name, index);
    const issued = await issueNodeCert({
      ca: caOf(org),
      org,
      role,
      name,
      dnsNames: [...at.dnsNames],
      ipAddresses: [...at.ipAddresses],
      validityDays,
      now,
    });
    return {
      role,
      entry: { name, org, host: at.host, port: at.port, apiPort: at.apiPort, cert: issued.certPem },
      keyPem: issued.keyPem,
    };
  };
  const orderers = await Promise.all(
    Array.from({ length: ordererCount }, (_, i) =>
      node('orderer', orgNames[i % orgCount] as OrgName, ordererName(i), i),
    ),
  );
  const peerSpecs = orgNames.flatMap((org) =>
    Array.from({ length: peersPerOrg }, (_, i) => ({ org, name: peerName(org, i) })),
  );
  const peers = await Promise.all(peerSpecs.map((p, i) => node('peer', p.org, p.name, i)));
  const users = (
    await Promise.all(
      orgNames.map((org) =>
        Promise.all(
          (['admin', 'client'] as const).map(async (role): Promise<GeneratedUser> => {
            const issued = await issueUserCert({ ca: caOf(org), org, role, name: role, validityDays, now });
            return { org, role, name: role, certPem: issued.certPem, keyPem: issued.keyPem };
          }),
        ),
      ),
    )
  ).flat();

  const everyOrg: PolicyExpr = { or: orgNames.map((org) => ({ org })) };
  const config: NetworkConfig = {
    version: PROTOCOL_VERSION,
    networkId: options.networkId ?? 'chainnode',
    sequence: 0,
    orgs: orgNames.map((name) => ({ name, caCerts: [caOf(name).certPem] })),
    orderers: orderers.map((o) => o.entry),
    peers: peers.map((p) => p.entry),
    policies: {
      submit: everyOrg,
      deploy: everyOrg,
      // A majority of organisations administers the network, as Fabric's default MAJORITY Admins.
      admin: { outOf: { k: Math.floor(orgCount / 2) + 1, of: orgNames.map((org) => ({ org })) } },
      endorsement:
        orgCount === 1 ? { org: orgNames[0] as OrgName } : { and: orgNames.map((org) => ({ org })) },
    },
    consensus: { ...DEFAULT_CONSENSUS, ...options.consensus },
  };
  const admins = users.filter((u) => u.role === 'admin');
  const genesis = buildGenesisBlock(signConfig(config, admins), now.getTime());
  return { config, genesis, cas: orgNames.map((org) => ({ org, ...caOf(org) })), orderers, peers, users };
}

/** A config transaction approved by every admin given; the first admin submits it. */
export function signConfig(config: NetworkConfig, admins: readonly GeneratedUser[]): Envelope {
  const submitter = admins[0];
  if (submitter === undefined) throw new RangeError('a configuration needs at least one admin approval');
  const approvals = admins.map((a) => approveConfig(config, { org: a.org, cert: a.certPem }, a.keyPem));
  return configEnvelope(config, approvals, { org: submitter.org, cert: submitter.certPem }, submitter.keyPem);
}
