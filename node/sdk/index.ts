export { signProposal, signTransaction, type CallSpec, type ClientIdentity } from './sign.js';
