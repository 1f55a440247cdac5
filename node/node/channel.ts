/**
 * The first byte of every transport MESSAGE payload says which layer it is for, so consensus
 * votes, node status and block delivery share one authenticated link per pair of nodes.
 */
export const Channel = {
  node: 1,
  consensus: 2,
} as const;
export type Channel = (typeof Channel)[keyof typeof Channel];

export function withChannel(channel: Channel, body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([channel]), body]);
}

export function splitChannel(payload: Buffer): { channel: number; body: Buffer } | null {
  if (payload.length === 0) return null;
  return { channel: payload[0] as number, body: payload.subarray(1) };
}
