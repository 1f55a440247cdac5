import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { parseIdentity } from '../../certs/index.js';
import {
  applyConfigChanges,
  approveConfig,
  configEnvelope,
  configTxProblems,
  configUpdateProblems,
  POLICY_NAMES,
  type ConfigChange,
  type PolicyName,
} from '../config/index.js';
import { CertificateKeyCache } from '../crypto/index.js';
import {
  approvalSchema,
  canonicalBytes,
  formatPolicy,
  networkConfigSchema,
  nodeEntrySchema,
  organisationSchema,
  parseWith,
  ProtocolError,
  SigningDomain,
  votingOrderers,
  type Approval,
  type ConsensusParams,
  type Envelope,
  type NetworkConfig,
  type NodeEntry,
  type OrgName,
} from '../protocol/index.js';
import { parsePolicy } from './policy-parse.js';

/*
 * A configuration proposal file, what `config propose` writes, `config sign` adds approvals to
 * and `config submit` turns into a config transaction (Fabric's `configtxlator` + `peer channel
 * signconfigtx` + `peer channel update` flow, in one JSON file):
 *
 *   { kind, networkId, baseSequence, summary: [...], changes: [...], config: {...}, approvals: [] }
 *
 * What admins sign is `config`, the whole proposed configuration. The summary is recomputed
 * from `config` against the configuration in force whenever the file is signed or submitted,
 * so a file edited by hand cannot show one change and carry another.
 */

export const PROPOSAL_KIND = 'chainnode/config-proposal';

const proposalSchema = z
  .object({
    kind: z.literal(PROPOSAL_KIND),
    networkId: z.string(),
    /** The sequence of the configuration this proposal was drafted from. */
    baseSequence: z.number().int().nonnegative(),
    createdAt: z.string(),
    summary: z.array(z.string()),
    /** The edits as requested; informational (the config is what is approved and applied). */
    changes: z.array(z.unknown()),
    config: networkConfigSchema,
    approvals: z.array(approvalSchema),
  })
  .strict();

export type ConfigProposal = z.infer<typeof proposalSchema>;

/** `current` with `changes` applied, refused with every problem listed if the result may not replace it. */
export function draftProposal(
  current: NetworkConfig,
  changes: readonly ConfigChange[],
  at: Date = new Date(),
): ConfigProposal {
  const config = applyConfigChanges(current, changes);
  const problems = configUpdateProblems(current, config, at);
  if (problems.length > 0) throw new ProposalError(`the proposed configuration is not acceptable`, problems);
  return {
    kind: PROPOSAL_KIND,
    networkId: current.networkId,
    baseSequence: current.sequence,
    createdAt: at.toISOString(),
    summary: describeConfigDiff(current, config),
    changes: changes.map((c) => ({ ...c })),
    config,
    approvals: [],
  };
}

/** An error with a list of problems, printed one per line under the message. */
export class ProposalError extends Error {
  override readonly name = 'ProposalError';
  constructor(
    message: string,
    readonly problems: readonly string[] = [],
  ) {
    super(problems.length === 0 ? message : `${message}:\n  - ${problems.join('\n  - ')}`);
  }
}

export async function readProposal(path: string): Promise<ConfigProposal> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ProposalError(`cannot read the proposal ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    throw new ProposalError(`${path} is not JSON (expected a file written by \`chainnode config propose\`)`);
  }
  if ((json as { kind?: unknown } | null)?.kind !== PROPOSAL_KIND)
    throw new ProposalError(
      `${path} is not a configuration proposal (written by \`chainnode config propose\`)`,
    );
  try {
    return parseWith(proposalSchema, json, 'proposal');
  } catch (e) {
    if (e instanceof ProtocolError) throw new ProposalError(`${path} is not a valid proposal: ${e.message}`);
    throw e;
  }
}

/** Writes the proposal (to a temporary name, then renamed); refuses to replace a file unless `overwrite`. */
export async function writeProposal(
  path: string,
  proposal: ConfigProposal,
  overwrite: boolean,
): Promise<void> {
  if (!overwrite && existsSync(path))
    throw new ProposalError(`${path} exists; choose another --out or add --force`);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(proposal, null, 2)}\n`, { mode: 0o644 });
  await rename(tmp, path);
}

export interface Signer {
  readonly org: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/**
 * Problems of the approvals already in a proposal: each must be an admin's signature over this
 * very config (one per organisation). Catches a file changed after someone signed it.
 */
export function existingApprovalProblems(proposal: ConfigProposal): string[] {
  const keys = new CertificateKeyCache();
  const bytes = canonicalBytes(proposal.config);
  const problems: string[] = [];
  const orgs = new Set<string>();
  proposal.approvals.forEach((a, i) => {
    if (orgs.has(a.signer.org)) problems.push(`approvals[${i}]: org ${a.signer.org} approved twice`);
    orgs.add(a.signer.org);
    let ok = false;
    try {
      ok = keys.get(a.signer.cert).verify(SigningDomain.configApproval, bytes, a.signature);
    } catch {
      ok = false;
    }
    if (!ok)
      problems.push(
        `approvals[${i}] (org ${a.signer.org}) is not a signature over this configuration: the file was changed after it was signed`,
      );
  });
  return problems;
}

/** The proposal with `signer`'s approval added; refuses non-admins, and a second approval by an org. */
export function addApproval(proposal: ConfigProposal, signer: Signer): ConfigProposal {
  const identity = parseIdentity(signer.certPem);
  if (identity.role !== 'admin') {
    throw new ProposalError(
      `${identity.name} of ${identity.org} is a ${identity.role}, not an admin: only organisation admins approve configuration changes (use --identity <org>/admin)`,
    );
  }
  if (identity.org !== signer.org)
    throw new ProposalError(`the certificate is of org ${identity.org}, not ${signer.org}`);
  if (proposal.approvals.some((a) => a.signer.cert === signer.certPem))
    throw new ProposalError(`this proposal is already signed by ${signer.org}'s admin; nothing to do`);
  if (proposal.approvals.some((a) => a.signer.org === signer.org))
    throw new ProposalError(
      `org ${signer.org} has already approved this proposal (one approval per organisation)`,
    );
  if (!proposal.config.orgs.some((o) => o.name === signer.org))
    throw new ProposalError(`org ${signer.org} is not a member of the network: its approval would not count`);
  const problems = existingApprovalProblems(proposal);
  if (problems.length > 0) throw new ProposalError('the proposal cannot be signed', problems);
  const approval: Approval = approveConfig(
    proposal.config,
    { org: signer.org as OrgName, cert: signer.certPem },
    signer.keyPem,
  );
  return { ...proposal, approvals: [...proposal.approvals, approval] };
}

/** Organisations that approved, in order. */
export function approvingOrgs(proposal: ConfigProposal): string[] {
  return proposal.approvals.map((a) => a.signer.org);
}

/**
 * The config transaction for `proposal`, signed by `creator` (an admin who approved it), after
 * the same checks the network makes: a clear local refusal instead of an INVALID transaction.
 */
export function assembleEnvelope(
  proposal: ConfigProposal,
  current: NetworkConfig,
  creator: Signer,
  at: Date = new Date(),
): Envelope {
  const approval = proposal.approvals.find((a) => a.signer.cert === creator.certPem);
  if (approval === undefined)
    throw new ProposalError(
      `the submitting admin (${creator.org}) must have approved the proposal (config sign)`,
    );
  const envelope = configEnvelope(
    proposal.config,
    proposal.approvals,
    { org: creator.org as OrgName, cert: creator.certPem },
    creator.keyPem,
  );
  const problems = configTxProblems(envelope, current, at);
  if (problems.length > 0) {
    const hint = problems.some((p) => /admin policy/.test(p))
      ? ` (the admin policy in force is ${formatPolicy(current.policies.admin)}; approved by: ${approvingOrgs(proposal).join(', ') || 'nobody'})`
      : '';
    throw new ProposalError(`the network would refuse this update${hint}`, problems);
  }
  return envelope;
}

// ---------------------------------------------------------------------------------------------
// Human summaries

function nodeLabel(n: NodeEntry): string {
  return `${n.name} (${n.org}, ${n.host}:${n.port}, api ${n.apiPort})`;
}

/** What changes from `before` to `after`, one line per change, computed from the configurations themselves. */
export function describeConfigDiff(before: NetworkConfig, after: NetworkConfig): string[] {
  const lines: string[] = [];
  const beforeOrgs = new Map(before.orgs.map((o) => [o.name as string, o]));
  const afterOrgs = new Map(after.orgs.map((o) => [o.name as string, o]));
  for (const [name, org] of afterOrgs) {
    const was = beforeOrgs.get(name);
    if (was === undefined) lines.push(`add organisation ${name} (${org.caCerts.length} CA certificate(s))`);
    else if (JSON.stringify(was.caCerts) !== JSON.stringify(org.caCerts))
      lines.push(`replace the CA certificates of organisation ${name}`);
  }
  for (const name of beforeOrgs.keys()) if (!afterOrgs.has(name)) lines.push(`remove organisation ${name}`);

  const beforeOrderers = new Map(before.orderers.map((o) => [o.name as string, o]));
  const afterOrderers = new Map(after.orderers.map((o) => [o.name as string, o]));
  for (const [name, o] of afterOrderers) {
    const was = beforeOrderers.get(name);
    if (was === undefined) {
      lines.push(
        `add orderer ${nodeLabel(o)}${o.learner === true ? ' as a learner (not voting until promoted)' : ''}`,
      );
      continue;
    }
    if (was.learner === true && o.learner !== true) lines.push(`promote orderer ${name} to a voting member`);
    if (was.learner !== true && o.learner === true) lines.push(`demote orderer ${name} to a learner`);
    if (was.cert !== o.cert) lines.push(`replace the certificate of orderer ${name}`);
    if (was.host !== o.host || was.port !== o.port || was.apiPort !== o.apiPort)
      lines.push(`move orderer ${name} to ${o.host}:${o.port} (api ${o.apiPort})`);
  }
  for (const name of beforeOrderers.keys())
    if (!afterOrderers.has(name)) lines.push(`remove orderer ${name}`);

  const beforePeers = new Map(before.peers.map((p) => [p.name as string, p]));
  const afterPeers = new Map(after.peers.map((p) => [p.name as string, p]));
  for (const [name, p] of afterPeers) {
    const was = beforePeers.get(name);
    if (was === undefined) lines.push(`add peer ${nodeLabel(p)}`);
    else {
      if (was.cert !== p.cert) lines.push(`replace the certificate of peer ${name}`);
      if (was.host !== p.host || was.port !== p.port || was.apiPort !== p.apiPort)
        lines.push(`move peer ${name} to ${p.host}:${p.port} (api ${p.apiPort})`);
    }
  }
  for (const name of beforePeers.keys()) if (!afterPeers.has(name)) lines.push(`remove peer ${name}`);

  for (const name of POLICY_NAMES) {
    const a = formatPolicy(before.policies[name]);
    const b = formatPolicy(after.policies[name]);
    if (a !== b) lines.push(`set the ${name} policy: ${a} -> ${b}`);
  }
  for (const key of Object.keys(after.consensus) as (keyof ConsensusParams)[]) {
    if (before.consensus[key] !== after.consensus[key])
      lines.push(`set consensus ${key}: ${before.consensus[key]} -> ${after.consensus[key]}`);
  }
  const votersBefore = votingOrderers(before.orderers).length;
  const votersAfter = votingOrderers(after.orderers).length;
  if (votersBefore !== votersAfter) lines.push(`voting orderers: ${votersBefore} -> ${votersAfter}`);
  lines.push(`configuration sequence ${before.sequence} -> ${after.sequence}`);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Command-line flags to changes

export interface ChangeFlags {
  readonly addOrg?: readonly string[];
  readonly addOrderer?: readonly string[];
  readonly addPeer?: readonly string[];
  readonly promoteOrderer?: readonly string[];
  readonly removeNode?: readonly string[];
  readonly removeOrg?: readonly string[];
  readonly policy?: readonly string[];
  readonly consensus?: readonly string[];
  readonly replaceCert?: readonly string[];
  /** ORG=CA_CERT_FILE[,CA_CERT_FILE...]: the organisation's trusted CA certificates, replaced. */
  readonly orgCas?: readonly string[];
}

const CONSENSUS_KEYS: readonly (keyof ConsensusParams)[] = [
  'batchTxMax',
  'batchBytesMax',
  'batchTimeoutMs',
  'viewTimeoutMs',
  'checkpointInterval',
  'window',
];

/** NAME=VALUE, split at the first '='. */
function keyValue(flag: string, value: string): [string, string] {
  const at = value.indexOf('=');
  if (at <= 0 || at === value.length - 1) throw new ProposalError(`${flag} needs NAME=VALUE, got "${value}"`);
  return [value.slice(0, at), value.slice(at + 1)];
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new ProposalError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

async function readNodeEntry(flag: string, path: string): Promise<NodeEntry> {
  let json: unknown;
  try {
    json = JSON.parse(await readText(path, `the ${flag} entry`)) as unknown;
  } catch (e) {
    if (e instanceof ProposalError) throw e;
    throw new ProposalError(`${flag} ${path}: not JSON (expected {name, org, host, port, apiPort, cert})`);
  }
  try {
    return parseWith(nodeEntrySchema, json, flag.replace(/^--/, ''));
  } catch (e) {
    if (e instanceof ProtocolError) throw new ProposalError(`${flag} ${path}: ${e.message}`);
    throw e;
  }
}

/**
 * The changes a `config propose` command line asks for, in an order that always makes sense
 * (an organisation before its nodes and policies, nodes removed before their organisation):
 * add-org, add-orderer, add-peer, replace-cert, set-org-cas, promote-orderer, set-policy, set-consensus,
 * remove-node, remove-org. `networkDir` resolves `--add-org NAME` without a CA file.
 */
export async function changesFromFlags(flags: ChangeFlags, networkDir?: string): Promise<ConfigChange[]> {
  const changes: ConfigChange[] = [];
  for (const value of flags.addOrg ?? []) {
    const at = value.indexOf('=');
    const name = at === -1 ? value : value.slice(0, at);
    const caPath =
      at === -1
        ? networkDir === undefined
          ? undefined
          : `${networkDir}/orgs/${name}/ca/cert.pem`
        : value.slice(at + 1);
    if (caPath === undefined) throw new ProposalError(`--add-org needs NAME=CA_CERT_FILE, got "${value}"`);
    const caCert = await readText(caPath, `the CA certificate of ${name}`);
    try {
      changes.push({
        op: 'add-org',
        org: parseWith(organisationSchema, { name, caCerts: [caCert] }, 'add-org'),
      });
    } catch (e) {
      if (e instanceof ProtocolError) throw new ProposalError(`--add-org ${value}: ${e.message}`);
      throw e;
    }
  }
  for (const path of flags.addOrderer ?? [])
    changes.push({ op: 'add-orderer', entry: await readNodeEntry('--add-orderer', path) });
  for (const path of flags.addPeer ?? [])
    changes.push({ op: 'add-peer', entry: await readNodeEntry('--add-peer', path) });
  for (const value of flags.replaceCert ?? []) {
    const [name, path] = keyValue('--replace-cert', value);
    changes.push({ op: 'replace-cert', name, cert: await readText(path, `the new certificate of ${name}`) });
  }
  for (const value of flags.orgCas ?? []) {
    const [org, paths] = keyValue('--org-cas', value);
    const caCerts: string[] = [];
    for (const path of paths.split(',')) caCerts.push(await readText(path, `a CA certificate of ${org}`));
    changes.push({ op: 'set-org-cas', org, caCerts });
  }
  for (const name of flags.promoteOrderer ?? []) changes.push({ op: 'promote-orderer', name });
  for (const value of flags.policy ?? []) {
    const [name, expr] = keyValue('--policy', value);
    if (!(POLICY_NAMES as readonly string[]).includes(name))
      throw new ProposalError(`--policy: unknown policy "${name}" (one of ${POLICY_NAMES.join(', ')})`);
    changes.push({ op: 'set-policy', policy: name as PolicyName, expr: parsePolicy(expr) });
  }
  if ((flags.consensus ?? []).length > 0) {
    const params: Partial<Record<keyof ConsensusParams, number>> = {};
    for (const value of flags.consensus ?? []) {
      const [key, raw] = keyValue('--consensus', value);
      if (!(CONSENSUS_KEYS as readonly string[]).includes(key))
        throw new ProposalError(
          `--consensus: unknown parameter "${key}" (one of ${CONSENSUS_KEYS.join(', ')})`,
        );
      if (!/^\d+$/.test(raw))
        throw new ProposalError(`--consensus ${key}: expected a whole number, got "${raw}"`);
      params[key as keyof ConsensusParams] = Number(raw);
    }
    changes.push({ op: 'set-consensus', params });
  }
  for (const name of flags.removeNode ?? []) changes.push({ op: 'remove-node', name });
  for (const name of flags.removeOrg ?? []) changes.push({ op: 'remove-org', name });
  return changes;
}
