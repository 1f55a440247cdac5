import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContractError } from './errors.js';

/** The contracts shipped in `<repo>/contracts/`. */
export const SAMPLE_CONTRACTS = ['trade', 'asset-transfer', 'kv'] as const;
export type SampleContractName = (typeof SAMPLE_CONTRACTS)[number];

/** Directories walked up at most while looking for package.json: the tree is a few levels deep. */
const REPO_ROOT_SEARCH_DEPTH_MAX = 8;

/**
 * The repository root: the nearest ancestor holding package.json. Works from the sources
 * (node/contracts) and from the build (dist/node/contracts), whose depths differ.
 */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < REPO_ROOT_SEARCH_DEPTH_MAX; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new ContractError(
    'CONTRACT_NOT_FOUND',
    'cannot find the repository root (a directory with package.json)',
  );
}

/** Reads a shipped sample contract's source; install it with `ContractRuntime.install(name, source)`. */
export function loadSampleContract(name: SampleContractName): { name: SampleContractName; source: string } {
  if (!(SAMPLE_CONTRACTS as readonly string[]).includes(name)) {
    throw new ContractError('CONTRACT_NOT_FOUND', `no sample contract ${name}`, {
      contract: name,
    });
  }
  const path = join(repoRoot(), 'contracts', `${name}.js`);
  return { name, source: readFileSync(path, 'utf8') };
}
