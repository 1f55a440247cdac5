/**
 * Hard limits on every inbound structure. Each is checked before the bytes are parsed (sizes)
 * or by the schema (counts and lengths), so a peer cannot make a node allocate without bound.
 */

/** Current wire/protocol version; a structure with any other version is refused. */
export const PROTOCOL_VERSION = 1;

/** One encoded transaction envelope, endorsements included. Fabric's default is similar (1 MiB). */
export const ENVELOPE_BYTES_MAX = 1024 * 1024;
/** One encoded block: a block is a batch of envelopes, and 16 MiB keeps a block under PostgreSQL's 1 GiB row limit by far. */
export const BLOCK_BYTES_MAX = 16 * 1024 * 1024;
/** Transactions in one block: bounds Merkle proof depth (14) and per-block validation work. */
export const BLOCK_TX_COUNT_MAX = 10_000;
/** One encoded network configuration. */
export const CONFIG_BYTES_MAX = 1024 * 1024;
/** Generic decode cap for any other single message. */
export const MESSAGE_BYTES_MAX = BLOCK_BYTES_MAX;

/** Names of organisations, nodes and contracts: DNS-label-like, so they work as Kubernetes names too. */
export const NAME_CHARS_MAX = 63;
/** Contract function names. */
export const FUNCTION_NAME_CHARS_MAX = 128;
/** Arguments of a contract call. */
export const ARGS_COUNT_MAX = 64;
export const ARG_CHARS_MAX = 64 * 1024;
/** A PEM certificate; ECDSA P-256 certificates are ~700 bytes, so 8 KiB leaves room for extensions. */
export const CERT_PEM_CHARS_MAX = 8 * 1024;
/** World-state keys and values (values are base64 text, so the decoded limit is 3/4 of this). */
export const STATE_KEY_CHARS_MAX = 1024;
export const STATE_VALUE_CHARS_MAX = 512 * 1024;
/** Entries of one read/write set. */
export const RWSET_READS_MAX = 10_000;
export const RWSET_WRITES_MAX = 10_000;
/** Contract result returned to the client. */
export const RESULT_CHARS_MAX = 256 * 1024;
/** Events emitted by one transaction, and the size of one event payload. */
export const EVENTS_MAX = 64;
export const EVENT_PAYLOAD_CHARS_MAX = 64 * 1024;
/** Endorsements on one transaction; one per organisation is the usual need. */
export const ENDORSEMENTS_MAX = 64;
/** Signatures on a commit certificate or approvals on a configuration: at most the member count. */
export const SIGNATURES_MAX = 256;
/** Members of a configuration. */
export const ORGS_MAX = 64;
export const ORDERERS_MAX = 64;
export const PEERS_MAX = 1024;
/** Nested policy expressions: deep enough for any realistic policy, shallow enough to recurse safely. */
export const POLICY_DEPTH_MAX = 8;
export const POLICY_TERMS_MAX = 64;
/** Nesting depth of any decoded JSON document; ours nest < 30 deep, and a cap keeps recursion safe. */
export const JSON_DEPTH_MAX = 48;
