import { ContractError, type ContractRuntime, type SimulationResult } from '../contracts/index.js';
import type { CertificateKeyCache, SigningKey } from '../crypto/index.js';
import type { ChainStore } from '../ledger/index.js';
import {
  canonicalBytes,
  nameSchema,
  policySatisfied,
  policySchema,
  proposalTxId,
  PROTOCOL_VERSION,
  sha256Hex,
  SigningDomain,
  type Endorsement,
  type Hash,
  type Identity,
  type NetworkConfig,
  type PolicyExpr,
  type ProposalResponse,
  type SignedProposal,
} from '../protocol/index.js';
import { PeerError } from './errors.js';
import type { MembershipVerifier } from '../config/index.js';
import {
  codeKey,
  contractDefinitionSchema,
  definitionKey,
  deploymentWrites,
  LIFECYCLE_CONTRACT,
  type ContractDefinition,
} from './lifecycle.js';
import type { WorldStateCache } from './state-cache.js';

/** How far a proposal's timestamp may be from this peer's clock: replays of old proposals are refused. */
export const PROPOSAL_CLOCK_SKEW_MS = 5 * 60 * 1000;

export interface EndorserDeps {
  readonly store: ChainStore;
  readonly cache: WorldStateCache;
  readonly runtime: ContractRuntime;
  readonly self: { readonly identity: Identity; readonly key: SigningKey };
  readonly keys: CertificateKeyCache;
  /** The configuration and membership in force now (they change with config transactions). */
  readonly current: () => { config: NetworkConfig; members: MembershipVerifier };
  readonly now?: () => number;
}

export interface EndorsedProposal {
  readonly response: ProposalResponse;
  readonly endorsement: Endorsement;
  /** Diagnostics for the peer's log, never signed. */
  readonly logs: readonly string[];
}

/**
 * The endorser role: checks who proposes, runs the contract against this peer's committed state
 * without changing it, and signs the outcome (read set with versions, write set, result, events).
 */
export class Endorser {
  constructor(private readonly deps: EndorserDeps) {}

  async endorse(signed: SignedProposal): Promise<EndorsedProposal> {
    const outcome = await this.execute(signed);
    const response: ProposalResponse = {
      version: PROTOCOL_VERSION,
      proposalHash: proposalTxId(signed.proposal) as string as Hash,
      rwset: outcome.rwset,
      result: outcome.result,
      events: outcome.events,
    };
    const signature = this.deps.self.key.sign(SigningDomain.response, canonicalBytes(response));
    return { response, endorsement: { endorser: this.deps.self.identity, signature }, logs: outcome.logs };
  }

  /** A read-only query: the same checks and simulation, nothing signed and nothing to order. */
  async evaluate(signed: SignedProposal): Promise<string> {
    return (await this.execute(signed)).result;
  }

  private async execute(signed: SignedProposal): Promise<SimulationResult> {
    const { proposal } = signed;
    const { config, members } = this.deps.current();
    const now = this.deps.now?.() ?? Date.now();
    if (Math.abs(proposal.timestampMs - now) > PROPOSAL_CLOCK_SKEW_MS) {
      throw new PeerError(
        'PEER_BAD_PROPOSAL',
        `proposal timestamp is more than ${PROPOSAL_CLOCK_SKEW_MS / 60_000} minutes from this peer's clock`,
      );
    }
    const creator = members.check(proposal.creator, ['client', 'admin'], new Date(now));
    if (!creator.ok) throw new PeerError('PEER_UNAUTHORIZED', `creator refused: ${creator.problem}`);
    if (
      !this.deps.keys
        .get(proposal.creator.cert)
        .verify(SigningDomain.proposal, canonicalBytes(proposal), signed.signature)
    ) {
      throw new PeerError(
        'PEER_BAD_SIGNATURE',
        `the proposal signature of ${creator.identity.name}@${proposal.creator.org} does not verify`,
      );
    }
    const orgs = new Set([proposal.creator.org]);
    if (!policySatisfied(config.policies.submit, orgs)) {
      throw new PeerError('PEER_UNAUTHORIZED', `org ${proposal.creator.org} may not submit transactions`);
    }
    const caller = { org: proposal.creator.org, role: creator.identity.role, name: creator.identity.name };
    const txId = proposalTxId(proposal);
    if (proposal.contract === LIFECYCLE_CONTRACT) {
      if (!policySatisfied(config.policies.deploy, orgs)) {
        throw new PeerError('PEER_UNAUTHORIZED', `org ${proposal.creator.org} may not deploy contracts`);
      }
      return this.simulateLifecycle(proposal.fn, proposal.args);
    }
    await this.ensureInstalled(proposal.contract);
    try {
      return await this.deps.cache.simulate((state) =>
        this.deps.runtime.simulate({
          contract: proposal.contract,
          fn: proposal.fn,
          args: proposal.args,
          caller,
          txId,
          timestampMs: proposal.timestampMs,
          state,
        }),
      );
    } catch (e) {
      if (e instanceof ContractError) {
        throw new PeerError('PEER_CONTRACT_FAILED', `${proposal.contract}.${proposal.fn}: ${e.message}`, {
          cause: e,
        });
      }
      throw e;
    }
  }

  /** Installs (or upgrades to) the code the committed lifecycle definition names; warm, it reads nothing. */
  private async ensureInstalled(contract: string): Promise<void> {
    const definitionEntry = await this.deps.cache.simulate((state) =>
      state.get(LIFECYCLE_CONTRACT, definitionKey(contract)),
    );
    if (definitionEntry === null)
      throw new PeerError('PEER_CONTRACT_NOT_FOUND', `contract ${contract} is not deployed`);
    const parsed = contractDefinitionSchema.safeParse(
      safeJson(Buffer.from(definitionEntry.value).toString('utf8')),
    );
    if (!parsed.success)
      throw new PeerError('PEER_CONTRACT_NOT_FOUND', `the definition of ${contract} is unreadable`);
    const definition = parsed.data;
    if (this.deps.runtime.info(contract)?.codeHash === definition.codeHash) return;
    const code = await this.deps.cache.simulate((state) =>
      state.get(LIFECYCLE_CONTRACT, codeKey(definition.codeHash)),
    );
    if (code === null)
      throw new PeerError('PEER_CONTRACT_NOT_FOUND', `code ${definition.codeHash} of ${contract} is missing`);
    const source = Buffer.from(code.value).toString('utf8');
    if (sha256Hex(source) !== definition.codeHash) {
      throw new PeerError(
        'PEER_CONTRACT_NOT_FOUND',
        `stored code of ${contract} does not match its hash ${definition.codeHash}`,
      );
    }
    this.deps.runtime.install(contract, source);
  }

  /**
   * The built-in lifecycle contract. `deploy(name, version, code[, policyJson])` checks the code
   * loads in the sandbox and the version is new, and writes the definition and the code.
   */
  private async simulateLifecycle(fn: string, args: readonly string[]): Promise<SimulationResult> {
    if (fn !== 'deploy')
      throw new PeerError('PEER_CONTRACT_FAILED', `lifecycle has no function ${fn} (it has: deploy)`);
    const [name, version, code, policyJson] = args;
    if (name === undefined || version === undefined || code === undefined || args.length > 4) {
      throw new PeerError(
        'PEER_CONTRACT_FAILED',
        'lifecycle.deploy takes name, version, code and an optional endorsement policy (JSON)',
      );
    }
    if (!nameSchema.safeParse(name).success || name === LIFECYCLE_CONTRACT) {
      throw new PeerError('PEER_CONTRACT_FAILED', `"${name}" is not a valid contract name`);
    }
    let policy: PolicyExpr | null = null;
    if (policyJson !== undefined && policyJson !== '') {
      const parsed = policySchema.safeParse(safeJson(policyJson));
      if (!parsed.success)
        throw new PeerError(
          'PEER_CONTRACT_FAILED',
          `endorsement policy is invalid: ${parsed.error.issues[0]?.message ?? ''}`,
        );
      policy = parsed.data;
    }
    const probe = `lifecycle-probe-${sha256Hex(code).slice(0, 16)}`;
    let functions: readonly string[];
    try {
      functions = this.deps.runtime.install(probe, code).functions;
    } catch (e) {
      throw new PeerError('PEER_CONTRACT_FAILED', `contract ${name} does not load: ${(e as Error).message}`, {
        cause: e,
      });
    } finally {
      this.deps.runtime.uninstall(probe);
    }
    const current = await this.deps.store.getState(LIFECYCLE_CONTRACT, definitionKey(name));
    if (current !== null) {
      const existing = contractDefinitionSchema.parse(JSON.parse(current.value.toString('utf8')));
      if (existing.version === version)
        throw new PeerError(
          'PEER_CONTRACT_FAILED',
          `contract ${name} version ${version} is already deployed`,
        );
    }
    const definition: ContractDefinition = {
      name,
      version,
      codeHash: sha256Hex(code),
      endorsementPolicy: policy,
    };
    return {
      rwset: {
        reads: [{ ns: LIFECYCLE_CONTRACT, key: definitionKey(name), version: current?.version ?? null }],
        writes: deploymentWrites(definition, code),
      },
      result: JSON.stringify({ ...definition, functions }),
      events: [
        {
          name: 'ContractDeployed',
          payload: JSON.stringify({ name, version, codeHash: definition.codeHash }),
        },
      ],
      logs: [],
      codeHash: definition.codeHash,
    };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
