import { resolve } from 'node:path';

/** `--dir`, else CHAINNODE_DIR, else ./.chainnode: where a command finds its network. */
export function resolveNetworkDir(flag: string | undefined): string {
  const env = process.env.CHAINNODE_DIR;
  return resolve(flag ?? (env !== undefined && env !== '' ? env : '.chainnode'));
}
