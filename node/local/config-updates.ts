import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeConfigUpdate } from '../config/index.js';
import {
  canonicalBytes,
  envelopeSchema,
  parseWith,
  votingOrderers,
  type Envelope,
  type NetworkConfig,
  type NodeEntry,
} from '../protocol/index.js';
import { REQUEST_TIMEOUT_MS } from '../sdk/client.js';
import { ChainnodeClient, ClientError } from '../sdk/index.js';
import { LocalError } from './errors.js';
import { pendingUpdatesDir } from './paths.js';
import { STATUS_TIMEOUT_MS, withTimeout } from './wait.js';

/*
 * Submitting a configuration update so that a committed update is always recorded in the
 * network directory (DIR/config-updates/, where nodes started later find their entries):
 *
 * - write-ahead: the envelope is written to DIR/run/pending-config-updates/ before it is sent,
 *   so that a command that crashes (or loses its answer) after the network committed it is
 *   completed by the next command that reads the configuration in force (currentConfig);
 * - an answer lost after the update was ordered (a gateway timeout, a dropped connection) is not
 *   a failure: before asking another peer, the peers are asked whether the transaction is in
 *   their chain, and if it is, the update is recorded and the command goes on;
 * - a definite refusal (an HTTP 4xx from the gateway, or a transaction flagged invalid) ends the
 *   command and forgets the pending record; nothing was committed.
 */

/** The gateway's commit wait stays under the SDK's request timeout, so its answer is not cut off. */
const GATEWAY_WAIT_MS_MAX = REQUEST_TIMEOUT_MS - 5_000;
export const SUBMIT_TIMEOUT_MS = 60_000;
const PENDING_KIND = 'chainnode/pending-config-update';
/** Pending records kept at most (one per submission still unsettled); more means something loops. */
const PENDING_MAX = 64;

export interface Reconfigurer {
  readonly dir: string;
  /** The identity the command runs as; its organisation's admin submits when it can. */
  readonly identity: { readonly org: string; readonly role: string };
  readonly user: { readonly certPem: string; readonly keyPem: string };
  /** Progress lines for a person (stderr). */
  readonly progress: (line: string) => void;
}

/** A peer to submit through: a member of the configuration, or any gateway address. */
export interface Gateway {
  readonly name: string;
  readonly host: string;
  readonly apiPort: number;
}

export function clientFor(
  r: Reconfigurer,
  entry: Pick<NodeEntry, 'host' | 'apiPort'>,
  config: NetworkConfig,
): ChainnodeClient {
  return ChainnodeClient.connect({
    url: `https://${entry.host}:${String(entry.apiPort)}`,
    certPem: r.user.certPem,
    keyPem: r.user.keyPem,
    caCerts: config.orgs.flatMap((o) => o.caCerts),
  });
}

export type NodeStatus = Record<string, unknown> & {
  height?: number;
  headHash?: string;
  membership?: string | null;
};

/** A node's /status within STATUS_TIMEOUT_MS; throws (naming the node) when it does not answer. */
export async function statusOf(
  r: Reconfigurer,
  entry: NodeEntry,
  config: NetworkConfig,
): Promise<NodeStatus> {
  const client = clientFor(r, entry, config);
  try {
    return await withTimeout(
      client.status() as Promise<NodeStatus>,
      STATUS_TIMEOUT_MS,
      `${entry.name} /status`,
    );
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Pending (write-ahead) records

const pendingSchema = z
  .object({ kind: z.literal(PENDING_KIND), writtenAt: z.string(), envelope: z.unknown() })
  .strict();

interface Pending {
  readonly file: string;
  readonly envelope: Envelope;
  readonly sequence: number;
}

function pendingFile(dir: string, envelope: Envelope): string {
  const sequence = configOf(envelope).sequence;
  return join(pendingUpdatesDir(dir), `${String(sequence).padStart(6, '0')}-${envelope.payload.txId}.json`);
}

function configOf(envelope: Envelope): NetworkConfig {
  if (envelope.payload.type !== 'config')
    throw new LocalError('LOCAL_BAD_REQUEST', `transaction ${envelope.payload.txId} is not a config update`);
  return envelope.payload.config;
}

/** Records that `envelope` is about to be sent (written aside, then renamed: never half a record). */
export async function writePendingUpdate(dir: string, envelope: Envelope): Promise<string> {
  const file = pendingFile(dir, envelope);
  await mkdir(pendingUpdatesDir(dir), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(
    tmp,
    `${JSON.stringify({ kind: PENDING_KIND, writtenAt: new Date().toISOString(), envelope }, null, 2)}\n`,
    { mode: 0o600 },
  );
  await rename(tmp, file);
  return file;
}

async function forgetPending(dir: string, envelope: Envelope): Promise<void> {
  await rm(pendingFile(dir, envelope), { force: true });
}

/** The pending records of `dir`, lowest sequence first. */
export async function readPendingUpdates(dir: string): Promise<Pending[]> {
  const path = pendingUpdatesDir(dir);
  if (!existsSync(path)) return [];
  const names = (await readdir(path)).filter((n) => /^\d{6,}-[0-9a-f]{64}\.json$/.test(n)).sort();
  if (names.length > PENDING_MAX)
    throw new LocalError(
      'LOCAL_UNRECORDED',
      `${path} holds ${names.length} pending configuration updates (at most ${PENDING_MAX} expected); inspect and remove the stale ones`,
    );
  const pending: Pending[] = [];
  for (const name of names) {
    const file = join(path, name);
    let envelope: Envelope;
    try {
      const record = parseWith(pendingSchema, JSON.parse(await readFile(file, 'utf8')) as unknown, 'pending');
      envelope = parseWith(envelopeSchema, record.envelope, 'pending.envelope');
    } catch (e) {
      throw new LocalError(
        'LOCAL_UNRECORDED',
        `${file} is not a pending configuration update: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    pending.push({ file, envelope, sequence: configOf(envelope).sequence });
  }
  return pending;
}

// ---------------------------------------------------------------------------------------------
// Asking the network

interface Committed {
  readonly txId: string;
  readonly validation: string;
  readonly height: number;
}

/**
 * Whether any peer of `config` has transaction `txId` in its chain, with its validation; undefined
 * when none answering has it. Peers that do not answer are skipped: another one will.
 */
export async function lookUpTransaction(
  r: Reconfigurer,
  config: NetworkConfig,
  txId: string,
): Promise<Committed | undefined> {
  const answers = await Promise.all(
    config.peers.map(async (peer) => {
      const client = clientFor(r, peer, config);
      try {
        const tx = (await withTimeout(
          client.transaction(txId),
          STATUS_TIMEOUT_MS,
          `${peer.name} /transactions`,
        )) as {
          validation?: unknown;
          height?: unknown;
        };
        if (typeof tx.validation !== 'string' || typeof tx.height !== 'number') return undefined;
        return { txId, validation: tx.validation, height: tx.height };
      } catch {
        // 404: not in this peer's chain (yet); anything else: this peer cannot tell. Either way
        // the question goes to every peer at once and any one that has it answers it.
        return undefined;
      } finally {
        client.close();
      }
    }),
  );
  return answers.find((a) => a !== undefined);
}

/**
 * The configuration in force: asked of the running nodes (the highest sequence any answers),
 * checked against the network directory, which must know every committed update so that nodes
 * started from it find their entries. A committed update that a crashed command left pending is
 * recorded here first.
 */
export async function currentConfig(r: Reconfigurer, dirConfig: NetworkConfig): Promise<NetworkConfig> {
  const nodes = [...dirConfig.peers, ...votingOrderers(dirConfig.orderers)];
  let forbidden = 0;
  let lastError: unknown;
  const answers = await Promise.all(
    nodes.map(async (n) => {
      const client = clientFor(r, n, dirConfig);
      try {
        return await withTimeout(client.config(), STATUS_TIMEOUT_MS, n.name);
      } catch (e) {
        if (e instanceof ClientError && e.status === 403) forbidden += 1;
        lastError = e;
        return undefined;
      } finally {
        client.close();
      }
    }),
  );
  const configs = answers.filter((c): c is NetworkConfig => c !== undefined);
  if (configs.length === 0 && forbidden > 0)
    throw new LocalError(
      'LOCAL_UNREACHABLE',
      `the nodes refuse to show their configuration to ${r.identity.org}/${r.identity.role}: it takes an admin identity (--identity <org>/admin)`,
    );
  if (configs.length === 0)
    throw new LocalError(
      'LOCAL_UNREACHABLE',
      `no node of the network answered (is it running? chainnode status); cannot read the configuration in force${lastError instanceof Error ? ` (last error: ${lastError.message})` : ''}`,
      { cause: lastError },
    );
  const newest = configs.reduce((a, b) => (b.sequence > a.sequence ? b : a));
  const recorded = await settlePendingUpdates(r, dirConfig, newest);
  if (newest.sequence > recorded.sequence) {
    throw new LocalError(
      'LOCAL_UNRECORDED',
      `the network is at configuration sequence ${newest.sequence} but ${r.dir}/config-updates stops at ${recorded.sequence}: ` +
        'a configuration update was submitted without recording it here (chainnode config submit records it)',
    );
  }
  return newest;
}

/**
 * Settles what earlier commands left pending against the network (whose newest configuration is
 * `inForce`): an update the network committed is recorded, one it refused or that another update
 * overtook is forgotten, one that may still commit is kept. Returns the directory's newest
 * configuration after recording.
 */
export async function settlePendingUpdates(
  r: Reconfigurer,
  dirConfig: NetworkConfig,
  inForce: NetworkConfig,
): Promise<NetworkConfig> {
  let recorded = dirConfig;
  for (const pending of await readPendingUpdates(r.dir)) {
    const { envelope, sequence } = pending;
    if (sequence <= recorded.sequence) {
      // Recorded when it committed, or the sequence went to another update.
      await rm(pending.file, { force: true });
      continue;
    }
    // Only the next sequence can be recorded; one further on waits for the one before it.
    if (sequence > recorded.sequence + 1 || inForce.sequence < sequence) continue;
    const config = configOf(envelope);
    const mineInForce =
      inForce.sequence === sequence && canonicalBytes(inForce).equals(canonicalBytes(config));
    const found = await lookUpTransaction(r, inForce, envelope.payload.txId);
    if (mineInForce || found?.validation === 'VALID') {
      const file = await writeConfigUpdate(r.dir, envelope);
      r.progress(
        `recorded configuration sequence ${sequence} (txId ${envelope.payload.txId.slice(0, 12)}…), committed for an earlier command that did not record it, in ${file}`,
      );
      recorded = config;
    } else if (found !== undefined || inForce.sequence === sequence) {
      // Refused, or another configuration holds its sequence: it can never commit now.
      r.progress(
        `forgetting the configuration update to sequence ${sequence} an earlier command submitted: ` +
          (found === undefined
            ? `another update holds sequence ${sequence}`
            : `the network refused it (${found.validation})`),
      );
    } else {
      // The network is further on and no peer answered for it: keep it for a later command.
      continue;
    }
    await rm(pending.file, { force: true });
  }
  return recorded;
}

// ---------------------------------------------------------------------------------------------
// Submitting

export interface SubmitOutcome {
  readonly txId: string;
  readonly validation: string;
  readonly height: number;
  /** The file the committed update was recorded in; null unless VALID. */
  readonly recorded: string | null;
}

/** An HTTP 4xx from a gateway is its verdict on the request; anything else leaves the outcome open. */
function definiteRefusal(e: unknown): e is ClientError {
  return e instanceof ClientError && e.status >= 400 && e.status < 500;
}

function describeFailure(e: unknown): string {
  if (e instanceof ClientError) return `${e.message} [${e.code}${e.status > 0 ? `, HTTP ${e.status}` : ''}]`;
  return e instanceof Error ? e.message : String(e);
}

/**
 * Submits a config transaction through `gateways` in turn until one gives the network's verdict,
 * recording a committed update in the network directory. Written ahead (see above); an answer
 * lost after ordering is recovered by looking the transaction up. Returns the outcome (VALID or
 * the code it was flagged with); throws LOCAL_UPDATE_REFUSED on a gateway's refusal and
 * LOCAL_UPDATE_UNCERTAIN when no peer can tell, leaving the record for the next command.
 */
export async function submitConfigEnvelope(
  r: Reconfigurer,
  current: NetworkConfig,
  envelope: Envelope,
  gateways: readonly Gateway[],
  timeoutMs: number = SUBMIT_TIMEOUT_MS,
): Promise<SubmitOutcome> {
  const sequence = configOf(envelope).sequence;
  const txId = envelope.payload.txId;
  if (gateways.length === 0)
    throw new LocalError('LOCAL_BAD_REQUEST', 'no peer to submit the configuration update through');
  await writePendingUpdate(r.dir, envelope);
  const settle = async (outcome: Committed): Promise<SubmitOutcome> => {
    const recorded = outcome.validation === 'VALID' ? await writeConfigUpdate(r.dir, envelope) : null;
    await forgetPending(r.dir, envelope);
    return { ...outcome, recorded };
  };
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (const gateway of gateways) {
    const remainingMs = deadline - Date.now();
    if (remainingMs <= 0) break;
    const client = clientFor(r, gateway, current);
    try {
      const outcome = await client.submitEnvelope(envelope, Math.min(remainingMs, GATEWAY_WAIT_MS_MAX));
      return await settle(outcome);
    } catch (e) {
      // The answer may be lost after the network ordered it: ask before anything else.
      const committed = await lookUpTransaction(r, current, txId);
      if (committed !== undefined) {
        r.progress(
          `${gateway.name} did not answer (${describeFailure(e)}), but the update is in block ${committed.height} (${committed.validation})`,
        );
        return await settle(committed);
      }
      if (definiteRefusal(e)) {
        await forgetPending(r.dir, envelope);
        throw new LocalError(
          'LOCAL_UPDATE_REFUSED',
          `the network refused configuration sequence ${sequence} (through ${gateway.name}): ${describeFailure(e)}`,
          { cause: e },
        );
      }
      lastError = e;
      r.progress(`${gateway.name} did not confirm the update (${describeFailure(e)}); trying the next peer`);
    } finally {
      client.close();
    }
  }
  const committed = await lookUpTransaction(r, current, txId);
  if (committed !== undefined) return settle(committed);
  throw new LocalError(
    'LOCAL_UPDATE_UNCERTAIN',
    `no peer confirmed configuration sequence ${sequence} (txId ${txId}) within ${Math.round(timeoutMs / 1000)} s` +
      `${lastError === undefined ? '' : ` (last error: ${describeFailure(lastError)})`}; it may still commit: ` +
      `the next chainnode command that reads the configuration in force records it if it does (pending in ${pendingUpdatesDir(r.dir)})`,
    { cause: lastError },
  );
}

/** The peers of `config` to submit through: the identity's organisation first, none of `avoid`. */
export function gatewaysFor(config: NetworkConfig, org: string, avoid: readonly string[] = []): Gateway[] {
  const skip = new Set(avoid);
  return [
    ...config.peers.filter((p) => p.org === org && !skip.has(p.name)),
    ...config.peers.filter((p) => p.org !== org && !skip.has(p.name)),
  ];
}
