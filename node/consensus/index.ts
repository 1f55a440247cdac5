export {
  assembleCommitCertificate,
  checkCommitCertificate,
  signCommitVote,
  type CertificateProblem,
} from './commit-certificate.js';
