import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directories walked up at most while looking for package.json: the tree is a few levels deep. */
const PACKAGE_ROOT_SEARCH_DEPTH_MAX = 8;

/**
 * The chainnode package root (the nearest ancestor of this module holding package.json), where
 * shipped files live (contracts/, docs/). Works from the sources (node/...) and from the build
 * (dist/node/...), whose depths differ.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < PACKAGE_ROOT_SEARCH_DEPTH_MAX; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error('cannot find the chainnode package root (a directory with package.json)');
}
