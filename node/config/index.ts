export { ConfigError, type ConfigErrorCode } from './errors.js';
export {
  caDir,
  CONFIG_UPDATES_DIR,
  loadLatestConfig,
  writeConfigUpdate,
  loadNetworkDir,
  NETWORK_FILE,
  nodeDir,
  readNodeIdentity,
  readUserIdentity,
  userDir,
  writeNetworkDir,
  type NodeIdentityFiles,
} from './network-dir.js';
export {
  genesisFromNetworkFile,
  loadNetworkFile,
  NETWORK_FILE_BYTES_MAX,
  networkFileFromGenesis,
  networkFileSchema,
  parseNetworkFile,
  renderNetworkFile,
  type LoadedNetwork,
  type NetworkFile,
} from './network-file.js';
export { approvalProblems, configProblems } from './validate.js';
export { IDENTITY_CACHE_ENTRIES_MAX, MembershipVerifier, type IdentityVerdict } from './membership.js';
export {
  applyConfigChanges,
  configAfter,
  approveConfig,
  configEnvelope,
  configTxProblems,
  configUpdateProblems,
  POLICY_NAMES,
  type ConfigChange,
  type PolicyName,
} from './update.js';
