// The contract runtime: deterministic JavaScript contracts in QuickJS (WebAssembly), simulated
// against a synchronous view of the world state into Fabric-style read/write sets.
export { ContractError, type ContractErrorCode } from './errors.js';
export * from './limits.js';
export {
  ContractRuntime,
  DEFAULT_CONTRACT_LIMITS,
  type Caller,
  type ContractInfo,
  type ContractLimits,
  type SimulationRequest,
  type SimulationResult,
} from './runtime.js';
export { loadSampleContract, SAMPLE_CONTRACTS, type SampleContractName } from './samples.js';
export { compareKeys, InMemoryState, type StateEntry, type StateReader } from './state.js';
