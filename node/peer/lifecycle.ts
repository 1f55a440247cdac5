import { z } from 'zod';
import { hashSchema, nameSchema, policySchema, type PolicyExpr } from '../protocol/index.js';

/**
 * Contract lifecycle, after Fabric's `_lifecycle`: deploying or upgrading a contract is an
 * ordinary transaction of the built-in `lifecycle` contract, endorsed under the network's
 * endorsement policy and submitted by a creator the `deploy` policy allows. Its writes are the
 * contract's definition and its code, both in the `lifecycle` namespace, so every peer learns
 * the same code (content-addressed by SHA-256) at the same height.
 */
export const LIFECYCLE_CONTRACT = 'lifecycle';

export const contractDefinitionSchema = z
  .object({
    name: nameSchema,
    version: z.string().min(1).max(64),
    codeHash: hashSchema,
    /** null: the network's default endorsement policy. */
    endorsementPolicy: policySchema.nullable(),
  })
  .strict();

export type ContractDefinition = z.infer<typeof contractDefinitionSchema>;

export function definitionKey(contract: string): string {
  return `contract~${contract}`;
}

export function codeKey(codeHash: string): string {
  return `code~${codeHash}`;
}

/** The endorsement policy a transaction of `contract` must meet: see ValidationContext.contractPolicy. */
export function policyOf(definition: ContractDefinition | undefined): PolicyExpr | null | undefined {
  return definition === undefined ? undefined : definition.endorsementPolicy;
}

/** The write set of a deployment: the definition and the code it names, in the lifecycle namespace. */
export function deploymentWrites(
  definition: ContractDefinition,
  code: string,
): { ns: string; key: string; value: string }[] {
  return [
    {
      ns: LIFECYCLE_CONTRACT,
      key: definitionKey(definition.name),
      value: Buffer.from(JSON.stringify(definition)).toString('base64'),
    },
    {
      ns: LIFECYCLE_CONTRACT,
      key: codeKey(definition.codeHash),
      value: Buffer.from(code).toString('base64'),
    },
  ];
}
