import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { runDir, stateFile } from './paths.js';

/** One node run by the supervisor: its process (null once exited) and what became of it. */
export const nodeStateSchema = z
  .object({
    pid: z.number().int().nullable(),
    state: z.enum(['starting', 'running', 'stopped', 'exited']),
    exitCode: z.number().int().nullable(),
  })
  .strict();

/** What a running local network looks like from outside: who runs, where its database is. */
export const localStateSchema = z
  .object({
    supervisorPid: z.number().int().positive(),
    startedAtMs: z.number().int(),
    /** Contains the database password: the file is 0600. */
    databaseUrl: z.string(),
    databaseDescription: z.string(),
    nodes: z.record(z.string(), nodeStateSchema),
  })
  .strict();

export type LocalState = z.infer<typeof localStateSchema>;

export async function writeLocalState(dir: string, state: LocalState): Promise<void> {
  await mkdir(runDir(dir), { recursive: true, mode: 0o700 });
  // Write then rename, so a reader never sees half a file.
  const tmp = `${stateFile(dir)}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
  await rename(tmp, stateFile(dir));
}

/** The state of a local network whose supervisor is alive, or null. */
export async function readLocalState(dir: string): Promise<LocalState | null> {
  if (!existsSync(stateFile(dir))) return null;
  const state = localStateSchema.parse(JSON.parse(await readFile(stateFile(dir), 'utf8')));
  return processAlive(state.supervisorPid) ? state : null;
}

export async function clearLocalState(dir: string): Promise<void> {
  await rm(stateFile(dir), { force: true });
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
