export { ChainnodeClient, ClientError, type ConnectOptions, type SubmitResult } from './client.js';
export { signProposal, signTransaction, type CallSpec, type ClientIdentity } from './sign.js';
export {
  addApproval,
  approvingOrgs,
  assembleEnvelope,
  changesFromFlags,
  describeConfigDiff,
  draftProposal,
  existingApprovalProblems,
  PROPOSAL_KIND,
  ProposalError,
  readProposal,
  writeProposal,
  type ChangeFlags,
  type ConfigProposal,
  type Signer,
} from './config-proposal.js';
export { parsePolicy } from './policy-parse.js';
