export { IDENTITY_CACHE_ENTRIES_MAX, MembershipVerifier, type IdentityVerdict } from '../config/index.js';
export { prefetchValidationContext } from './prefetch.js';
export { stateKey, validateBlock, type BlockValidation, type ValidationContext } from './validate.js';
export {
  codeKey,
  contractDefinitionSchema,
  definitionKey,
  deploymentWrites,
  LIFECYCLE_CONTRACT,
  policyOf,
  type ContractDefinition,
} from './lifecycle.js';
export { contractDefinitions } from './prefetch.js';
export {
  Committer,
  DELIVERY_STALL_MS,
  type CommittedBlockEvent,
  type TransactionOutcome,
} from './committer.js';
export { Endorser, PROPOSAL_CLOCK_SKEW_MS, type EndorsedProposal } from './endorser.js';
export { PeerError, type PeerErrorCode } from './errors.js';
export { COMMIT_TIMEOUT_MS, ENDORSE_TIMEOUT_MS, Gateway, planOrgs } from './gateway.js';
export { PeerRole } from './peer-role.js';
export { WorldStateCache } from './state-cache.js';
