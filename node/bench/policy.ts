/**
 * The one policy parser is the SDK's (Fabric's `AND('org1', 'org2')`, `OutOf(2, …)`, or the JSON
 * form), so `bench --policy` accepts exactly what `config propose --policy` does. Kept as a
 * re-export for the bench's own tests.
 */
export { parsePolicy } from '../sdk/policy-parse.js';
