import { createHash } from 'node:crypto';
import { ContractError } from './errors.js';
import { CONTRACT_SOURCE_CHARS_MAX } from './limits.js';

/**
 * The contract format: an ES module whose callable functions are its `export function name(ctx, ...args)`
 * declarations (args are the proposal's strings; the return value is JSON-encoded into the result).
 * No imports, no other export forms, no top-level await: a contract is one self-contained file.
 *
 * To run a call in a fresh module scope without a fresh QuickJS context, the module body becomes the
 * body of a factory function (see runtime.ts). `export` is the only module-only syntax we allow, so
 * the rewrite replaces each `export` of a line-leading `export function` with spaces, which keeps
 * every line and column where it was; the runtime cross-checks the names it found against the
 * module's real export list, so a look-alike inside a template string cannot slip through.
 */
const EXPORT_FUNCTION = /^export(\s+function\s+)([A-Za-z_$][\w$]*)/gm;
/** What a proposal's `fn` may be (schemas.ts FUNCTION_NAME). */
const CALLABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Put before the body on line 1, so only line 1 columns shift, by its length. */
export const FACTORY_PREFIX = "(function () { 'use strict'; ";

export interface PreparedSource {
  readonly codeHash: string;
  /** Names found by the rewrite, in source order. */
  readonly functions: readonly string[];
  readonly factorySource: string;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function prepareSource(contract: string, source: string): PreparedSource {
  if (source.length > CONTRACT_SOURCE_CHARS_MAX) {
    throw new ContractError(
      'CONTRACT_LOAD_FAILED',
      `contract ${contract}: source has ${source.length} characters, more than CONTRACT_SOURCE_CHARS_MAX (${CONTRACT_SOURCE_CHARS_MAX})`,
      { contract },
    );
  }
  const functions: string[] = [];
  const body = source.replace(EXPORT_FUNCTION, (_match, rest: string, fnName: string) => {
    functions.push(fnName);
    return `      ${rest}${fnName}`;
  });
  for (const fn of functions) {
    if (!CALLABLE_NAME.test(fn)) {
      throw new ContractError(
        'CONTRACT_LOAD_FAILED',
        `contract ${contract}: exported function ${fn} cannot be called by a proposal (names are letters, digits and _)`,
        { contract, fn },
      );
    }
  }
  const exportsObject = functions.map((fn) => `${JSON.stringify(fn)}: ${fn}`).join(', ');
  return {
    codeHash: sha256Hex(source),
    functions,
    // The newline before `;return` ends a trailing line comment in the source.
    factorySource: `${FACTORY_PREFIX}${body}\n;return { ${exportsObject} }; })`,
  };
}
