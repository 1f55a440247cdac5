import { PkiError, verifyChain } from '../../certs/index.js';
import { CertificateKeyCache } from '../crypto/index.js';
import {
  canonicalBytes,
  payloadBytes,
  MESSAGE_BYTES_MAX,
  policyOrgs,
  policySatisfied,
  SigningDomain,
  type Approval,
  type Envelope,
  type NetworkConfig,
  type NodeEntry,
} from '../protocol/index.js';

/** Blocks a VIEW-CHANGE may carry, in bytes: three quarters of a transport message, the rest for proofs. */
export const VIEW_CHANGE_BLOCK_BYTES_MAX = (MESSAGE_BYTES_MAX / 4) * 3;

/**
 * Everything the schema cannot see: names unique, references resolvable, addresses distinct,
 * every node certificate issued by its organisation's CA for that very node and role.
 * Returns all problems, so a user fixes a file in one pass.
 */
export function configProblems(config: NetworkConfig, at: Date): string[] {
  const problems: string[] = [];
  const orgs = new Map(config.orgs.map((o) => [o.name as string, o]));
  if (orgs.size !== config.orgs.length)
    problems.push(
      duplicates(
        'orgs[].name',
        config.orgs.map((o) => o.name),
      ),
    );

  const nodes: [string, NodeEntry, 'orderer' | 'peer'][] = [
    ...config.orderers.map((n, i): [string, NodeEntry, 'orderer'] => [`orderers[${i}]`, n, 'orderer']),
    ...config.peers.map((n, i): [string, NodeEntry, 'peer'] => [`peers[${i}]`, n, 'peer']),
  ];
  const names = nodes.map(([, n]) => n.name as string);
  if (new Set(names).size !== names.length) problems.push(duplicates('node names', names));
  const endpoints = nodes.flatMap(([, n]) => [`${n.host}:${n.port}`, `${n.host}:${n.apiPort}`]);
  if (new Set(endpoints).size !== endpoints.length)
    problems.push(duplicates('host:port endpoints', endpoints));

  for (const [path, node, role] of nodes) {
    const org = orgs.get(node.org);
    if (org === undefined) {
      problems.push(`${path} (${node.name}) belongs to org "${node.org}", which is not in orgs`);
      continue;
    }
    try {
      const identity = verifyChain(node.cert, org.caCerts, { at });
      if (identity.name !== node.name)
        problems.push(`${path}.cert is issued to "${identity.name}", not "${node.name}"`);
      if (identity.role !== role) problems.push(`${path}.cert has role ${identity.role}, expected ${role}`);
    } catch (e) {
      problems.push(`${path}.cert (${node.name}): ${certMessage(e)}`);
    }
  }
  const { window, batchBytesMax } = config.consensus;
  if (window * batchBytesMax > VIEW_CHANGE_BLOCK_BYTES_MAX) {
    problems.push(
      `consensus.window × consensus.batchBytesMax is ${window * batchBytesMax} bytes; a view change carries that much ` +
        `and the transport caps a message at ${MESSAGE_BYTES_MAX}, so keep it at most ${VIEW_CHANGE_BLOCK_BYTES_MAX}`,
    );
  }
  for (const [name, policy] of Object.entries(config.policies)) {
    for (const org of policyOrgs(policy)) {
      if (!orgs.has(org)) problems.push(`policies.${name} names org "${org}", which is not in orgs`);
    }
  }
  return problems;
}

/**
 * Checks a config transaction's signatures: every approval by an admin certificate of its
 * org's CA over the canonical config, the approving orgs satisfying `adminPolicy`, and the
 * envelope signed by its creator, who must be one of the approving admins.
 */
export function approvalProblems(
  envelope: Envelope,
  trustConfig: NetworkConfig,
  adminPolicy: NetworkConfig['policies']['admin'],
  at: Date,
): string[] {
  const payload = envelope.payload;
  if (payload.type !== 'config') return ['the transaction is not a config transaction'];
  const problems: string[] = [];
  const keys = new CertificateKeyCache();
  const configBytes = canonicalBytes(payload.config);
  const approvingOrgs = new Set<string>();
  payload.approvals.forEach((approval: Approval, i) => {
    const problem = adminSignatureProblem(approval.signer, trustConfig, at);
    if (problem !== null) problems.push(`approvals[${i}]: ${problem}`);
    else if (
      !keys.get(approval.signer.cert).verify(SigningDomain.configApproval, configBytes, approval.signature)
    ) {
      problems.push(`approvals[${i}]: the signature of org ${approval.signer.org}'s admin does not verify`);
    } else approvingOrgs.add(approval.signer.org);
  });
  if (!policySatisfied(adminPolicy, approvingOrgs)) {
    problems.push(`approvals from [${[...approvingOrgs].join(', ')}] do not satisfy the admin policy`);
  }
  const creatorProblem = adminSignatureProblem(payload.creator, trustConfig, at);
  if (creatorProblem !== null) problems.push(`creator: ${creatorProblem}`);
  else if (
    !keys.get(payload.creator.cert).verify(SigningDomain.envelope, payloadBytes(payload), envelope.signature)
  ) {
    problems.push('the creator signature over the config transaction does not verify');
  } else if (
    !payload.approvals.some(
      (a) => a.signer.org === payload.creator.org && a.signer.cert === payload.creator.cert,
    )
  ) {
    problems.push(`the creator (an admin of ${payload.creator.org}) is not one of the approving admins`);
  }
  return problems;
}

function adminSignatureProblem(
  signer: { org: string; cert: string },
  config: NetworkConfig,
  at: Date,
): string | null {
  const org = config.orgs.find((o) => o.name === signer.org);
  if (org === undefined) return `org "${signer.org}" is not in the configuration`;
  try {
    const identity = verifyChain(signer.cert, org.caCerts, { at });
    return identity.role === 'admin'
      ? null
      : `certificate of ${identity.name} has role ${identity.role}, not admin`;
  } catch (e) {
    return certMessage(e);
  }
}

function certMessage(e: unknown): string {
  if (e instanceof PkiError) return e.message;
  throw e;
}

function duplicates(what: string, values: readonly string[]): string {
  const seen = new Set<string>();
  const dups = new Set(values.filter((v) => (seen.has(v) ? true : (seen.add(v), false))));
  return `${what} must be unique; repeated: ${[...dups].join(', ')}`;
}
