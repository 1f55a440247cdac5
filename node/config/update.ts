import { SigningKey } from '../crypto/index.js';
import {
  canonicalBytes,
  configTxId,
  policySatisfied,
  PROTOCOL_VERSION,
  SigningDomain,
  votingOrderers,
  type Approval,
  type Block,
  type ConfigPayload,
  type ConsensusParams,
  type Envelope,
  type Identity,
  type NetworkConfig,
  type NodeEntry,
  type Organisation,
  type PolicyExpr,
} from '../protocol/index.js';
import { ConfigError } from './errors.js';
import { PkiError, verifyChain } from '../../certs/index.js';
import { approvalProblems, configProblems } from './validate.js';

/**
 * One edit of the network configuration. A configuration update is a list of these applied in
 * order, plus one to the sequence; it takes effect at the height of the block that orders it.
 */
export type ConfigChange =
  /** A new orderer joins as a learner: connected, fed blocks, not voting until promoted. */
  | { readonly op: 'add-orderer'; readonly entry: NodeEntry }
  /** A caught-up learner becomes a voting orderer. */
  | { readonly op: 'promote-orderer'; readonly name: string }
  | { readonly op: 'add-peer'; readonly entry: NodeEntry }
  | { readonly op: 'remove-node'; readonly name: string }
  | { readonly op: 'add-org'; readonly org: Organisation }
  | { readonly op: 'remove-org'; readonly name: string }
  /**
   * An organisation's trusted CA certificates replaced: a renewed CA (same key and name, so
   * everything it issued still verifies) is rolled in as [renewed, old], then [renewed].
   */
  | { readonly op: 'set-org-cas'; readonly org: string; readonly caCerts: readonly string[] }
  | { readonly op: 'set-policy'; readonly policy: PolicyName; readonly expr: PolicyExpr }
  | { readonly op: 'set-consensus'; readonly params: Partial<ConsensusParams> }
  /** A node's certificate renewed (same key) or replaced (new key). */
  | { readonly op: 'replace-cert'; readonly name: string; readonly cert: string };

export type PolicyName = keyof NetworkConfig['policies'];
export const POLICY_NAMES: readonly PolicyName[] = ['submit', 'deploy', 'admin', 'endorsement'];

/** `current` with `changes` applied and the sequence advanced; throws ConfigError naming a bad change. */
export function applyConfigChanges(current: NetworkConfig, changes: readonly ConfigChange[]): NetworkConfig {
  if (changes.length === 0)
    throw new ConfigError('CONFIG_INVALID', 'a configuration update needs at least one change');
  let next: NetworkConfig = structuredClone(current);
  for (const change of changes) next = applyOne(next, change);
  return { ...next, sequence: current.sequence + 1 };
}

function applyOne(config: NetworkConfig, change: ConfigChange): NetworkConfig {
  const fail = (message: string): never => {
    throw new ConfigError('CONFIG_INVALID', `${change.op}: ${message}`);
  };
  const nodeNamed = (name: string) =>
    config.orderers.find((o) => o.name === name) ?? config.peers.find((p) => p.name === name);
  switch (change.op) {
    case 'add-orderer':
      if (nodeNamed(change.entry.name) !== undefined) fail(`a node named "${change.entry.name}" exists`);
      return { ...config, orderers: [...config.orderers, { ...change.entry, learner: true }] };
    case 'promote-orderer': {
      const entry = config.orderers.find((o) => o.name === change.name);
      if (entry === undefined) return fail(`no orderer named "${change.name}"`);
      if (entry.learner !== true) fail(`orderer "${change.name}" already votes`);
      return {
        ...config,
        orderers: config.orderers.map((o) => {
          if (o.name !== change.name) return o;
          const voting = { ...o };
          delete voting.learner;
          return voting;
        }),
      };
    }
    case 'add-peer':
      if (nodeNamed(change.entry.name) !== undefined) fail(`a node named "${change.entry.name}" exists`);
      return { ...config, peers: [...config.peers, change.entry] };
    case 'remove-node':
      if (nodeNamed(change.name) === undefined) fail(`no node named "${change.name}"`);
      return {
        ...config,
        orderers: config.orderers.filter((o) => o.name !== change.name),
        peers: config.peers.filter((p) => p.name !== change.name),
      };
    case 'add-org':
      if (config.orgs.some((o) => o.name === change.org.name)) fail(`org "${change.org.name}" exists`);
      return { ...config, orgs: [...config.orgs, change.org] };
    case 'remove-org': {
      if (!config.orgs.some((o) => o.name === change.name)) fail(`no org named "${change.name}"`);
      const nodes = [...config.orderers, ...config.peers].filter((n) => n.org === change.name);
      if (nodes.length > 0)
        fail(
          `org "${change.name}" still has nodes (${nodes.map((n) => n.name).join(', ')}); remove them first`,
        );
      return { ...config, orgs: config.orgs.filter((o) => o.name !== change.name) };
    }
    case 'set-org-cas':
      if (!config.orgs.some((o) => o.name === change.org)) fail(`no org named "${change.org}"`);
      if (change.caCerts.length === 0) fail(`org "${change.org}" would trust no CA certificate`);
      return {
        ...config,
        orgs: config.orgs.map((o) => (o.name === change.org ? { ...o, caCerts: [...change.caCerts] } : o)),
      };
    case 'set-policy':
      if (!POLICY_NAMES.includes(change.policy)) fail(`unknown policy "${change.policy as string}"`);
      return { ...config, policies: { ...config.policies, [change.policy]: change.expr } };
    case 'set-consensus':
      return { ...config, consensus: { ...config.consensus, ...change.params } };
    case 'replace-cert': {
      if (nodeNamed(change.name) === undefined) fail(`no node named "${change.name}"`);
      const swap = <E extends NodeEntry>(n: E): E =>
        n.name === change.name ? { ...n, cert: change.cert } : n;
      return { ...config, orderers: config.orderers.map(swap), peers: config.peers.map(swap) };
    }
    default: {
      const unreachable: never = change;
      throw new ConfigError('CONFIG_INVALID', `unknown change ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * Why `next` may not replace `current` (empty if it may). Orderers check this when they order a
 * config transaction and peers when they validate it, with the same inputs (the configuration
 * in force at the block, the block's timestamp), so every node applies the same updates:
 * - the sequence is the next one (two updates drafted from the same configuration conflict:
 *   the second is refused once the first is applied);
 * - the result is a valid configuration (configProblems);
 * - at least one orderer votes, and the admin policy can still be satisfied by its orgs;
 * - at most one orderer starts or stops voting, and new orderers join as learners: quorums
 *   change one member at a time, and never count a node that has not caught up.
 */
export function configUpdateProblems(current: NetworkConfig, next: NetworkConfig, at: Date): string[] {
  const problems: string[] = [];
  if (next.networkId !== current.networkId)
    problems.push(`the update is for network "${next.networkId}", this is "${current.networkId}"`);
  if (next.sequence !== current.sequence + 1) {
    problems.push(
      `the update has sequence ${next.sequence} but the configuration in force has ${current.sequence}: ` +
        (next.sequence <= current.sequence
          ? 'it conflicts with a change applied since it was drafted; draft it again from the current configuration'
          : `it must be ${current.sequence + 1}`),
    );
  }
  problems.push(...configProblems(next, at));
  const voting = new Set(votingOrderers(next.orderers).map((o) => o.name as string));
  const votingBefore = new Set(votingOrderers(current.orderers).map((o) => o.name as string));
  if (voting.size === 0) problems.push('the update leaves no voting orderer');
  const started = [...voting].filter((n) => !votingBefore.has(n));
  const stopped = [...votingBefore].filter((n) => !voting.has(n));
  if (started.length + stopped.length > 1) {
    problems.push(
      `the update changes ${started.length + stopped.length} voting orderers at once ` +
        `(${[...started.map((n) => `+${n}`), ...stopped.map((n) => `-${n}`)].join(', ')}); change one per update`,
    );
  }
  const before = new Set(current.orderers.map((o) => o.name as string));
  for (const name of started) {
    if (!before.has(name))
      problems.push(`orderer ${name} must join as a learner and be promoted once it has caught up`);
  }
  if (!policySatisfied(next.policies.admin, new Set(next.orgs.map((o) => o.name)))) {
    problems.push(
      'the admin policy could not be satisfied by the remaining organisations (no admin would be left)',
    );
  }
  return problems;
}

/**
 * Every reason a config transaction may not be applied on top of `current` at `at`: its
 * approvals and creator (approvalProblems), the update itself (configUpdateProblems), and that
 * no organisation is locked out of its own administration. Orderers (admission, proposed
 * blocks, final blocks), peers (validation) and gateways (pre-check) all ask this one function,
 * so they cannot disagree about which updates apply.
 */
export function configTxProblems(envelope: Envelope, current: NetworkConfig, at: Date): string[] {
  if (envelope.payload.type !== 'config') return ['the transaction is not a config transaction'];
  const next = envelope.payload.config;
  return [
    ...approvalProblems(envelope, current, current.policies.admin, at),
    ...configUpdateProblems(current, next, at),
    ...orgAdminProblems(envelope.payload.approvals, current, next, at),
  ];
}

/**
 * An organisation whose CA certificates change must approve that itself, with an admin
 * certificate its new CAs still trust: otherwise other organisations could take over its
 * identity, or a swap to an unrelated CA would leave it without any admin (the configuration
 * does not list admins, so this is the one moment the last one can be seen to survive).
 */
function orgAdminProblems(
  approvals: readonly Approval[],
  current: NetworkConfig,
  next: NetworkConfig,
  at: Date,
): string[] {
  const problems: string[] = [];
  for (const org of next.orgs) {
    const before = current.orgs.find((o) => o.name === org.name);
    if (before === undefined || sameStrings(before.caCerts, org.caCerts)) continue;
    const own = approvals.filter((a) => a.signer.org === org.name);
    if (own.length === 0) {
      problems.push(
        `the CA certificates of org ${org.name} change, so its own admin must approve the update`,
      );
      continue;
    }
    const kept = own.some((a) => {
      try {
        return verifyChain(a.signer.cert, org.caCerts, { at }).role === 'admin';
      } catch (e) {
        if (e instanceof PkiError) return false;
        throw e;
      }
    });
    if (!kept)
      problems.push(
        `org ${org.name} would be left without an admin: none of its approving admins' certificates is trusted by its new CA certificates`,
      );
  }
  return problems;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** An admin's approval of `config`: a signature over its canonical bytes. */
export function approveConfig(config: NetworkConfig, admin: Identity, keyPem: string): Approval {
  return {
    signer: admin,
    signature: SigningKey.fromPem(keyPem).sign(SigningDomain.configApproval, canonicalBytes(config)),
  };
}

/** The config transaction carrying `config` and its approvals, signed by the submitting admin. */
export function configEnvelope(
  config: NetworkConfig,
  approvals: readonly Approval[],
  creator: Identity,
  creatorKeyPem: string,
): Envelope {
  const payload: ConfigPayload = {
    version: PROTOCOL_VERSION,
    type: 'config',
    txId: configTxId(creator, config),
    creator,
    config,
    approvals: [...approvals],
  };
  return {
    payload,
    signature: SigningKey.fromPem(creatorKeyPem).sign(SigningDomain.envelope, canonicalBytes(payload)),
  };
}

/**
 * The configuration a final block puts in force, if it orders a config transaction: the
 * transaction's, when it passes the same checks peers apply (validate.ts) under `current` at the
 * block's time, with `problems` empty; otherwise `current`, with the reasons. Null for a block
 * without a config transaction.
 */
export function configAfter(
  current: NetworkConfig,
  block: Block,
): { readonly config: NetworkConfig; readonly problems: readonly string[] } | null {
  const envelope = block.transactions.find((e) => e.payload.type === 'config');
  if (envelope === undefined || envelope.payload.type !== 'config') return null;
  const problems = configTxProblems(envelope, current, new Date(block.header.timestampMs));
  return problems.length === 0
    ? { config: envelope.payload.config, problems }
    : { config: current, problems };
}
