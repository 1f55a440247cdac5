/**
 * Why a transaction in a committed block is valid or not. Invalid transactions stay in the
 * block (the order is final) and carry their code; only VALID ones change the world state.
 * Codes are stored as numbers, so never renumber one.
 */
export const ValidationCode = {
  VALID: 0,
  BAD_PAYLOAD: 1,
  BAD_CREATOR_SIGNATURE: 2,
  UNAUTHORIZED_CREATOR: 3,
  DUPLICATE_TXID: 4,
  BAD_ENDORSEMENT_SIGNATURE: 5,
  ENDORSEMENT_POLICY_FAILURE: 6,
  MVCC_READ_CONFLICT: 7,
  CONTRACT_NOT_FOUND: 8,
  BAD_CONFIG_UPDATE: 9,
} as const;

export type ValidationCode = (typeof ValidationCode)[keyof typeof ValidationCode];

const names = new Map<number, string>(Object.entries(ValidationCode).map(([name, code]) => [code, name]));

export function validationCodeName(code: number): string {
  return names.get(code) ?? `UNKNOWN_${code}`;
}

export function isValidationCode(code: number): code is ValidationCode {
  return names.has(code);
}
