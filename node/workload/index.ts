export { certifyLocally, type LocalOrderer } from './local-certify.js';
export { sampleTrade, tradeEnvelope, type Signer, type Trade } from './trade.js';
