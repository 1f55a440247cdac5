export { invokeEnvelope, type InvokeSpec, type Signer } from './invoke.js';
export { certifyLocally, type LocalOrderer } from './local-certify.js';
export { sampleTrade, tradeEnvelope, type Trade } from './trade.js';
