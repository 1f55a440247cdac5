import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/package-root.js';
import { ContractError } from './errors.js';

/** The contracts shipped in `<repo>/contracts/`. */
export const SAMPLE_CONTRACTS = ['trade', 'asset-transfer', 'kv'] as const;
export type SampleContractName = (typeof SAMPLE_CONTRACTS)[number];

/** Reads a shipped sample contract's source; install it with `ContractRuntime.install(name, source)`. */
export function loadSampleContract(name: SampleContractName): { name: SampleContractName; source: string } {
  if (!(SAMPLE_CONTRACTS as readonly string[]).includes(name)) {
    throw new ContractError('CONTRACT_NOT_FOUND', `no sample contract ${name}`, {
      contract: name,
    });
  }
  const path = join(packageRoot(), 'contracts', `${name}.js`);
  return { name, source: readFileSync(path, 'utf8') };
}
