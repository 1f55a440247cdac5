import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { runDir } from './paths.js';

/*
 * How `chainnode node add|remove` and `org add` ask the supervisor of a running local network
 * (started by `up`) to start or stop one node: a Unix socket in <dir>/run, one JSON request
 * line, one JSON answer line. The socket's directory is 0700, so only the network's owner can use it.
 */

/** A Unix socket path must fit in sun_path (108 bytes on Linux, 104 on macOS). */
const SOCKET_PATH_MAX = 103;
export const CONTROL_TIMEOUT_MS = 60_000;

export function controlSocketPath(dir: string): string {
  return join(runDir(dir), 'supervisor.sock');
}

const requestSchema = z.object({ op: z.enum(['start', 'stop']), name: z.string().min(1).max(64) }).strict();
export type ControlRequest = z.infer<typeof requestSchema>;
const answerSchema = z.object({ ok: z.boolean(), error: z.string().optional() }).strict();

/** Serves control requests; `handle` resolves when done or throws with the message to answer. */
export async function serveControl(
  dir: string,
  handle: (request: ControlRequest) => Promise<void>,
): Promise<Server> {
  const path = controlSocketPath(dir);
  if (path.length > SOCKET_PATH_MAX)
    throw new Error(`the control socket path ${path} is too long for a Unix socket; use a shorter --dir`);
  await mkdir(runDir(dir), { recursive: true, mode: 0o700 });
  await rm(path, { force: true });
  const server = createServer((socket) => {
    const lines = createInterface({ input: socket });
    lines.once('line', (line) => {
      lines.close();
      const answer = (value: z.infer<typeof answerSchema>): void => {
        socket.end(`${JSON.stringify(value)}\n`);
      };
      let request: ControlRequest;
      try {
        request = requestSchema.parse(JSON.parse(line));
      } catch {
        answer({ ok: false, error: 'bad control request' });
        return;
      }
      handle(request).then(
        () => {
          answer({ ok: true });
        },
        (e: unknown) => {
          answer({ ok: false, error: e instanceof Error ? e.message : String(e) });
        },
      );
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** Asks the supervisor of the local network in `dir` to start or stop a node; resolves once done. */
export async function controlRequest(dir: string, request: ControlRequest): Promise<void> {
  const path = controlSocketPath(dir);
  if (!existsSync(path)) {
    throw new Error(
      `no local network is running from ${dir} (start it with \`chainnode up\`); node add/remove/rotate and org add act on a running local network`,
    );
  }
  const line = await new Promise<string>((resolve, reject) => {
    const socket = createConnection(path);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`the local network's supervisor did not answer within ${CONTROL_TIMEOUT_MS / 1000} s`),
      );
    }, CONTROL_TIMEOUT_MS);
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach the local network's supervisor at ${path}: ${e.message}`));
    });
    socket.once('connect', () => {
      socket.write(`${JSON.stringify(request)}\n`);
    });
    const lines = createInterface({ input: socket });
    lines.once('line', (l) => {
      clearTimeout(timer);
      lines.close();
      socket.end();
      resolve(l);
    });
  });
  const answer = answerSchema.parse(JSON.parse(line));
  if (!answer.ok)
    throw new Error(
      `the supervisor could not ${request.op} ${request.name}: ${answer.error ?? 'unknown error'}`,
    );
}
