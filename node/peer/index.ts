export { IDENTITY_CACHE_ENTRIES_MAX, MembershipVerifier, type IdentityVerdict } from './identities.js';
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
