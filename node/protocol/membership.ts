/**
 * BFT arithmetic: with n orderers the network tolerates f = floor((n - 1) / 3) faulty ones and
 * needs quorums of q = ceil((n + f + 1) / 2) votes (2f + 1 when n = 3f + 1), so any two
 * quorums share at least one honest orderer.
 */
export function faultTolerance(orderers: number): number {
  assertMembers(orderers);
  return Math.floor((orderers - 1) / 3);
}

export function quorumSize(orderers: number): number {
  const f = faultTolerance(orderers);
  return Math.ceil((orderers + f + 1) / 2);
}

function assertMembers(orderers: number): void {
  if (!Number.isInteger(orderers) || orderers < 1)
    throw new RangeError(`orderer count must be >= 1, got ${orderers}`);
}

/** The orderers that vote and count in quorums, in configuration order (learners excluded). */
export function votingOrderers<E extends { readonly learner?: true }>(orderers: readonly E[]): E[] {
  return orderers.filter((o) => o.learner !== true);
}
