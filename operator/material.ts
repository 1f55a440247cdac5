import { createOrgCa, issueNodeCert, issueUserCert, type CertificateWithKey } from '../certs/index.js';
import { renderNetworkFile } from '../node/config/index.js';
import { DEFAULT_CONSENSUS, signConfig, type GeneratedUser } from '../node/network/index.js';
import {
  buildGenesisBlock,
  PROTOCOL_VERSION,
  type NetworkConfig,
  type NodeEntry,
  type NodeName,
  type OrgName,
  type PolicyExpr,
} from '../node/protocol/index.js';
import type { AddressOf, NetworkPlan, PlannedNode } from './plan.js';
import type { LedgerNetworkSpec } from './spec.js';

/*
 * Certificate material is generated ONCE and then only read back: a CA that is regenerated would
 * no longer match the genesis block. `completeIdentities` fills in only what is missing.
 */

export const USER_ROLES = ['admin', 'client'] as const;
export type UserRole = (typeof USER_ROLES)[number];

export interface Identities {
  /** Organisation -> CA. */
  readonly cas: Map<string, CertificateWithKey>;
  /** Node name -> certificate and key. */
  readonly nodes: Map<string, CertificateWithKey>;
  /** `<org>/<role>` -> certificate and key. */
  readonly users: Map<string, CertificateWithKey>;
}

export const userKey = (org: string, role: UserRole): string => `${org}/${role}`;

export interface Validity {
  readonly caValidityDays: number;
  readonly nodeValidityDays: number;
}

export interface Completed {
  readonly identities: Identities;
  /** What was generated now (to be stored), by kind. */
  readonly created: { cas: string[]; nodes: string[]; users: string[] };
}

/**
 * Returns `existing` plus whatever `plan` needs and `existing` lacks. A missing CA is created
 * only if `mayCreateCas` (before the genesis exists); afterwards a lost CA is an error. So is a
 * lost identity of one of `members` (the nodes in the configuration, certified for their key).
 */
export async function completeIdentities(
  existing: Identities,
  plan: NetworkPlan,
  addressOf: AddressOf,
  validity: Validity,
  options: { mayCreateCas: boolean; now: Date; members?: ReadonlySet<string> },
): Promise<Completed> {
  const cas = new Map(existing.cas);
  const nodes = new Map(existing.nodes);
  const users = new Map(existing.users);
  const created = { cas: [] as string[], nodes: [] as string[], users: [] as string[] };
  for (const org of plan.orgs) {
    if (cas.has(org)) continue;
    if (!options.mayCreateCas)
      throw new MaterialError(
        `the CA of organisation "${org}" is missing; it cannot be regenerated after genesis`,
      );
    cas.set(org, await createOrgCa({ org, validityDays: validity.caValidityDays, now: options.now }));
    created.cas.push(org);
  }
  const caOf = (org: string): CertificateWithKey => {
    const ca = cas.get(org);
    if (ca === undefined) throw new MaterialError(`no CA for organisation "${org}"`);
    return ca;
  };
  for (const node of [...plan.orderers, ...plan.peers]) {
    if (nodes.has(node.name)) continue;
    if (options.members?.has(node.name) === true)
      throw new MaterialError(
        `the identity of node "${node.name}" is missing; the configuration certifies its key, so a new one cannot replace it (restore its Secret, or rotate its key with replace-cert)`,
      );
    const at = addressOf(node);
    nodes.set(
      node.name,
      await issueNodeCert({
        ca: caOf(node.org),
        org: node.org,
        role: node.role,
        name: node.name,
        dnsNames: [...at.dnsNames],
        ipAddresses: [...at.ipAddresses],
        validityDays: validity.nodeValidityDays,
        now: options.now,
      }),
    );
    created.nodes.push(node.name);
  }
  for (const org of plan.orgs) {
    for (const role of USER_ROLES) {
      const key = userKey(org, role);
      if (users.has(key)) continue;
      users.set(
        key,
        await issueUserCert({
          ca: caOf(org),
          org,
          role,
          name: role,
          validityDays: validity.nodeValidityDays,
          now: options.now,
        }),
      );
      created.users.push(key);
    }
  }
  return { identities: { cas, nodes, users }, created };
}

/** The genesis configuration, signed by every organisation's admin, as network.yaml text. */
export function renderGenesis(
  plan: NetworkPlan,
  identities: Identities,
  addressOf: AddressOf,
  spec: LedgerNetworkSpec,
  now: Date,
): string {
  const entry = (node: PlannedNode): NodeEntry => {
    const at = addressOf(node);
    const identity = identities.nodes.get(node.name);
    if (identity === undefined) throw new MaterialError(`no certificate for node "${node.name}"`);
    return {
      name: node.name as NodeName,
      org: node.org as OrgName,
      host: at.host,
      port: at.port,
      apiPort: at.apiPort,
      cert: identity.certPem,
    };
  };
  const orgNames = plan.orgs.map((o) => o as OrgName);
  const everyOrg: PolicyExpr = { or: orgNames.map((org) => ({ org })) };
  const consensus: Partial<typeof DEFAULT_CONSENSUS> = spec.consensus;
  const config: NetworkConfig = {
    version: PROTOCOL_VERSION,
    networkId: spec.networkId ?? plan.network,
    sequence: 0,
    orgs: orgNames.map((name) => {
      const ca = identities.cas.get(name);
      if (ca === undefined) throw new MaterialError(`no CA for organisation "${name}"`);
      return { name, caCerts: [ca.certPem] };
    }),
    orderers: plan.orderers.map(entry),
    peers: plan.peers.map(entry),
    // The same policies as `chainnode network init`: any org submits and deploys, a majority
    // administers, every org endorses.
    policies: {
      submit: everyOrg,
      deploy: everyOrg,
      admin: { outOf: { k: Math.floor(orgNames.length / 2) + 1, of: orgNames.map((org) => ({ org })) } },
      endorsement:
        orgNames.length === 1 ? { org: orgNames[0] as OrgName } : { and: orgNames.map((org) => ({ org })) },
    },
    consensus: { ...DEFAULT_CONSENSUS, ...consensus },
  };
  const admins: GeneratedUser[] = plan.orgs.map((org) => {
    const admin = identities.users.get(userKey(org, 'admin'));
    if (admin === undefined) throw new MaterialError(`no admin identity for organisation "${org}"`);
    return {
      org: org as OrgName,
      role: 'admin',
      name: 'admin',
      certPem: admin.certPem,
      keyPem: admin.keyPem,
    };
  });
  return renderNetworkFile(buildGenesisBlock(signConfig(config, admins), now.getTime()));
}

export class MaterialError extends Error {
  override readonly name = 'MaterialError';
  readonly code = 'MATERIAL_INVALID';
}
