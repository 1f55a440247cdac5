export { Channel, splitChannel, withChannel } from './channel.js';
export { openStatus, signStatus, type SignedStatus, type StatusMessage } from './messages.js';
export { ChainNode, TamperedChainError, type NodeOptions, type PeerStatus } from './node.js';
