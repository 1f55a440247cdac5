// The transport module's only public entry point: mutual-TLS links between the members of a network.
export { allowNodeRoles } from './auth.js';
export type { LinkPolicy, PeerIdentity } from './auth.js';
export { backoffDelayMs, RECONNECT_BASE_MS, RECONNECT_MAX_MS } from './backoff.js';
export { TransportError } from './errors.js';
export type { TransportErrorCode } from './errors.js';
export {
  encodeFrame,
  FRAME_BYTES_MAX,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameKind,
  HELLO_PAYLOAD_BYTES_MAX,
  PAYLOAD_BYTES_MAX,
} from './frame.js';
export type { DecodeResult, Frame } from './frame.js';
export { silentLogger, systemTimers } from './logger.js';
export type { TransportLogger, TransportTimers } from './logger.js';
export { OutboundQueue, QUEUE_BYTES_MAX, QUEUE_FRAMES_MAX } from './queue.js';
export {
  CLOSE_TIMEOUT_MS,
  DEAD_PEER_TIMEOUT_MS,
  DEFAULT_TRANSPORT_LIMITS,
  HEARTBEAT_INTERVAL_MS,
  HELLO_TIMEOUT_MS,
  INBOUND_CONNECTIONS_MAX,
  TLS_HANDSHAKE_TIMEOUT_MS,
  Transport,
  WRITE_STALL_TIMEOUT_MS,
} from './transport.js';
export type {
  PeerMetrics,
  SendResult,
  TransportLimits,
  TransportMetrics,
  TransportOptions,
} from './transport.js';
export { benchTransport } from './bench.js';
export type { BenchTransportOptions, BenchTransportResult, BenchTransportRow } from './bench.js';
