export { Controller, type ControllerOptions } from './controller.js';
export * from './builders.js';
export { eventRecorder } from './events.js';
export { KubeClient, KubeError, R, type KubeObject, type Resource } from './kube.js';
export { LeaderElector, type LeaderElectionOptions } from './leader.js';
export { completeIdentities, renderGenesis, type Identities } from './material.js';
export { OperatorMetrics, serveMetrics } from './metrics.js';
export {
  addressesFor,
  names,
  planNetwork,
  API_PORT,
  NODE_PORT,
  type NetworkPlan,
  type PlannedNode,
} from './plan.js';
export { WorkQueue } from './queue.js';
export { Reconciler, type ReconcileResult } from './reconciler.js';
export * from './spec.js';
export { computeStatus, setCondition, type Condition, type LedgerNetworkStatus } from './status.js';
