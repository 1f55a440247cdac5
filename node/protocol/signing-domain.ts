/**
 * What a signature is for. The signer prefixes the canonical bytes with the domain, so a
 * signature made for one purpose (say, an endorsement) can never be replayed as another
 * (say, a commit vote) even if the bytes happened to coincide.
 */
export const SigningDomain = {
  proposal: 'proposal',
  response: 'response',
  envelope: 'envelope',
  configApproval: 'config-approval',
  commitVote: 'commit-vote',
  consensus: 'consensus',
  nodeMessage: 'node-message',
} as const;

export type SigningDomain = (typeof SigningDomain)[keyof typeof SigningDomain];
