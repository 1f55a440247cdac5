export { BLOCK_CLOCK_SKEW_MS, blockProblem, envelopeProblem } from './admission.js';
export { EVENTS_PER_BATCH_MAX, OrdererRole, TICK_MS } from './orderer-role.js';
