import type { PolicyExpr } from './schemas.js';

/** Whether the organisations that signed satisfy `policy` (AND / OR / k-out-of-n over orgs). */
export function policySatisfied(policy: PolicyExpr, signedOrgs: ReadonlySet<string>): boolean {
  if ('org' in policy) return signedOrgs.has(policy.org);
  if ('and' in policy) return policy.and.every((p) => policySatisfied(p, signedOrgs));
  if ('or' in policy) return policy.or.some((p) => policySatisfied(p, signedOrgs));
  return policy.outOf.of.filter((p) => policySatisfied(p, signedOrgs)).length >= policy.outOf.k;
}

/** Every organisation a policy names, to check they all exist in the configuration. */
export function policyOrgs(policy: PolicyExpr): string[] {
  if ('org' in policy) return [policy.org];
  const terms = 'and' in policy ? policy.and : 'or' in policy ? policy.or : policy.outOf.of;
  return terms.flatMap(policyOrgs);
}

/** Human form, as Fabric writes policies: AND('org1', OutOf(2, 'org2', 'org3')). */
export function formatPolicy(policy: PolicyExpr): string {
  if ('org' in policy) return `'${policy.org}'`;
  if ('and' in policy) return `AND(${policy.and.map(formatPolicy).join(', ')})`;
  if ('or' in policy) return `OR(${policy.or.map(formatPolicy).join(', ')})`;
  return `OutOf(${policy.outOf.k}, ${policy.outOf.of.map(formatPolicy).join(', ')})`;
}
