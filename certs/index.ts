// The certs module's only public entry point: the PKI shared by the CLI and the Kubernetes operator.
export { createOrgCa, renewOrgCa, CA_CN_SUFFIX, SERIAL_BYTES } from './ca.js';
export type { CreateOrgCaOptions, RenewOrgCaOptions } from './ca.js';
export { issueNodeCert, issueUserCert, renewCert } from './issue.js';
export type { RenewCertOptions } from './issue.js';
export type { IssueNodeCertOptions, IssueUserCertOptions } from './issue.js';
export { createCsr, signCsr } from './csr.js';
export type { CreateCsrOptions, SignCsrOptions } from './csr.js';
export { parseIdentity } from './identity.js';
export { verifyChain } from './verify.js';
export type { VerifyChainOptions } from './verify.js';
export { PkiError } from './errors.js';
export type { PkiErrorCode } from './errors.js';
export { isRole, NODE_ROLES, ROLES, USER_ROLES } from './types.js';
export type { CertificateWithKey, CsrWithKey, Identity, NodeRole, Role, UserRole } from './types.js';
export { NAME_CHARS_MAX, SAN_ENTRIES_MAX, VALIDITY_DAYS_MAX } from './validate.js';
export { CLOCK_SKEW_ALLOWANCE_MS } from './validity.js';
