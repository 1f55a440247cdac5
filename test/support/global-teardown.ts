import { rm } from 'node:fs/promises';

export default async function globalTeardown(): Promise<void> {
  const running = globalThis.chainnodeTestPostgres;
  if (running === undefined) return;
  await running.server.stop();
  await rm(running.dir, { recursive: true, force: true });
}
