import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { LocalError } from './errors.js';
import { runDir } from './paths.js';
import { nodeStateSchema } from './state.js';

/*
 * How `chainnode node add|remove|rotate` and `org add` ask the supervisor of a running local
 * network (started by `up`) what it runs and to start or stop one node: a Unix socket in
 * <dir>/run, one JSON request line, one JSON answer line. The socket's directory is 0700, so
 * only the network's owner can use it.
 */

/** A Unix socket path must fit in sun_path (108 bytes on Linux, 104 on macOS). */
const SOCKET_PATH_MAX = 103;
/** Starting or stopping a node: a stop may wait NODE_STOP_GRACE_MS before the kill. */
export const CONTROL_TIMEOUT_MS = 60_000;
/** `status` is answered from memory: a supervisor that takes longer is not answering. */
export const CONTROL_STATUS_TIMEOUT_MS = 5_000;
/** An answer line longer than this is not from our supervisor (a status lists at most a few hundred nodes). */
const ANSWER_BYTES_MAX = 1024 * 1024;

export function controlSocketPath(dir: string): string {
  return join(runDir(dir), 'supervisor.sock');
}

const nodeName = z.string().min(1).max(64);
const requestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('status') }).strict(),
  z.object({ op: z.literal('start'), name: nodeName }).strict(),
  z.object({ op: z.literal('stop'), name: nodeName }).strict(),
]);
export type ControlRequest = z.infer<typeof requestSchema>;

/** What the supervisor runs, by node name: the state it saw last (running, stopped, exited). */
const supervisedSchema = z.record(z.string(), nodeStateSchema);
export type SupervisedNodes = z.infer<typeof supervisedSchema>;

const answerSchema = z
  .object({ ok: z.boolean(), error: z.string().optional(), nodes: supervisedSchema.optional() })
  .strict();
type ControlAnswer = z.infer<typeof answerSchema>;

/** What a handled request answers besides `ok`: the nodes, for `status`. */
export interface ControlReply {
  readonly nodes?: SupervisedNodes;
}

/** Serves control requests; `handle` resolves with the reply or throws with the message to answer. */
export async function serveControl(
  dir: string,
  handle: (request: ControlRequest) => Promise<ControlReply>,
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
      const answer = (value: ControlAnswer): void => {
        socket.end(`${JSON.stringify(value)}\n`);
      };
      let request: ControlRequest;
      try {
        request = requestSchema.parse(JSON.parse(line));
      } catch (e) {
        answer({ ok: false, error: `bad control request: ${e instanceof Error ? e.message : String(e)}` });
        return;
      }
      handle(request).then(
        (reply) => {
          answer({ ok: true, ...reply });
        },
        (e: unknown) => {
          answer({ ok: false, error: e instanceof Error ? e.message : String(e) });
        },
      );
    });
    // A client that went away mid-answer: nothing to tell anyone.
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

/**
 * Sends one request to the supervisor of the local network in `dir` and returns its answer;
 * LOCAL_NOT_RUNNING when there is no supervisor or it does not answer, LOCAL_SUPERVISOR when
 * it answers that it could not do it.
 */
export async function controlRequest(
  dir: string,
  request: ControlRequest,
  timeoutMs: number = request.op === 'status' ? CONTROL_STATUS_TIMEOUT_MS : CONTROL_TIMEOUT_MS,
): Promise<ControlReply> {
  const path = controlSocketPath(dir);
  if (!existsSync(path)) {
    throw new LocalError(
      'LOCAL_NOT_RUNNING',
      `no local network is running from ${dir} (start it with \`chainnode up\`); node add/remove/rotate and org add act on a running local network`,
    );
  }
  const line = await new Promise<string>((resolve, reject) => {
    const socket = createConnection(path);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new LocalError(
          'LOCAL_NOT_RUNNING',
          `the local network's supervisor (${path}) did not answer "${request.op}" within ${timeoutMs / 1000} s`,
        ),
      );
    }, timeoutMs);
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(
        new LocalError(
          'LOCAL_NOT_RUNNING',
          `cannot reach the local network's supervisor at ${path} (is \`chainnode up\` still running?): ${e.message}`,
          { cause: e },
        ),
      );
    });
    socket.once('connect', () => {
      socket.write(`${JSON.stringify(request)}\n`);
    });
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > ANSWER_BYTES_MAX)
        socket.destroy(new Error(`answer longer than ${ANSWER_BYTES_MAX} bytes`));
    });
    socket.once('end', () => {
      clearTimeout(timer);
      reject(
        new LocalError(
          'LOCAL_NOT_RUNNING',
          `the local network's supervisor closed ${path} without answering`,
        ),
      );
    });
    const lines = createInterface({ input: socket });
    lines.once('line', (l) => {
      clearTimeout(timer);
      lines.close();
      socket.end();
      resolve(l);
    });
  });
  let answer: ControlAnswer;
  try {
    answer = answerSchema.parse(JSON.parse(line));
  } catch (e) {
    throw new LocalError(
      'LOCAL_NOT_RUNNING',
      `the process listening on ${path} is not a chainnode supervisor`,
      {
        cause: e,
      },
    );
  }
  if (!answer.ok) {
    const what = request.op === 'status' ? 'report its nodes' : `${request.op} ${request.name}`;
    throw new LocalError(
      'LOCAL_SUPERVISOR',
      `the supervisor could not ${what}: ${answer.error ?? 'no reason given'}`,
    );
  }
  return answer.nodes === undefined ? {} : { nodes: answer.nodes };
}

/** The nodes the running supervisor of `dir` runs and their state; LOCAL_NOT_RUNNING if none answers. */
export async function supervisedNodes(dir: string): Promise<SupervisedNodes> {
  const reply = await controlRequest(dir, { op: 'status' });
  if (reply.nodes === undefined)
    throw new LocalError('LOCAL_NOT_RUNNING', `the supervisor of ${dir} answered "status" without its nodes`);
  return reply.nodes;
}
