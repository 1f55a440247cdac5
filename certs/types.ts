/** Roles of machines: they serve TLS and connect to each other, so their certificates do both. */
export const NODE_ROLES = ['orderer', 'peer'] as const;
/** Roles of people and applications: they only ever connect, never serve. */
export const USER_ROLES = ['client', 'admin'] as const;
export const ROLES = [...NODE_ROLES, ...USER_ROLES] as const;

export type NodeRole = (typeof NODE_ROLES)[number];
export type UserRole = (typeof USER_ROLES)[number];
/** Carried in the certificate's OU, as in Fabric's NodeOUs. */
export type Role = NodeRole | UserRole;

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function isNodeRole(role: Role): role is NodeRole {
  return (NODE_ROLES as readonly string[]).includes(role);
}

/** A certificate and its private key; also the shape of a CA passed to the issuing functions. */
export interface CertificateWithKey {
  /** One `-----BEGIN CERTIFICATE-----` block. */
  readonly certPem: string;
  /** PKCS#8 (`-----BEGIN PRIVATE KEY-----`), loadable by `crypto.createPrivateKey`. */
  readonly keyPem: string;
}

export interface CsrWithKey {
  /** One `-----BEGIN CERTIFICATE REQUEST-----` block (PKCS#10). */
  readonly csrPem: string;
  readonly keyPem: string;
}

/** Who a certificate names, read from its subject, plus what a caller needs to pin or verify it. */
export interface Identity {
  readonly org: string;
  readonly role: Role;
  readonly name: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 of the certificate's DER, lower-case hex without separators. */
  readonly fingerprint: string;
  /** SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`). */
  readonly publicKeyPem: string;
}
