export { Channel, splitChannel, withChannel } from './channel.js';
export { DeliveryServer, SUBSCRIBERS_MAX } from './delivery.js';
export {
  DELIVER_BLOCKS_MAX,
  decodeNodeMessage,
  encodeBlock,
  encodeEndorse,
  encodeEndorsed,
  encodeSubmit,
  type EndorseOutcome,
  encodeDeliver,
  encodeStatus,
  type NodeMessage,
  type StatusMessage,
} from './messages.js';
export {
  ChainNode,
  TamperedChainError,
  type CommittedBlock,
  type NodeOptions,
  type PeerStatus,
  type RoleHandlers,
} from './node.js';
