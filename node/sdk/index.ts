export { ChainnodeClient, ClientError, type ConnectOptions, type SubmitResult } from './client.js';
export { signProposal, signTransaction, type CallSpec, type ClientIdentity } from './sign.js';
