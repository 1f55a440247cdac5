import { join } from 'node:path';

/** Where a local network keeps its runtime files, beside network.yaml and the identities. */
export function runDir(dir: string): string {
  return join(dir, 'run');
}
export function stateFile(dir: string): string {
  return join(runDir(dir), 'state.json');
}
export function logDir(dir: string): string {
  return join(dir, 'logs');
}
export function nodeLogFile(dir: string, name: string): string {
  return join(logDir(dir), `${name}.log`);
}
/** Configuration updates sent but not yet known to be committed (write-ahead records). */
export function pendingUpdatesDir(dir: string): string {
  return join(runDir(dir), 'pending-config-updates');
}
