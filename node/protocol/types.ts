/**
 * Branded primitives: a `Hash` cannot be passed where a `TxId` is expected even though both
 * are 64 lowercase hex characters on the wire.
 */
export type Hash = string & { readonly __brand: 'Hash' };
export type TxId = string & { readonly __brand: 'TxId' };
/** IEEE P1363 r||s, 64 bytes as 128 lowercase hex characters, low-S. */
export type SignatureHex = string & { readonly __brand: 'SignatureHex' };
export type NodeName = string & { readonly __brand: 'NodeName' };
export type OrgName = string & { readonly __brand: 'OrgName' };
