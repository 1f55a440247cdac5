import { request } from 'node:https';
import type { CertificateWithKey } from '../certs/index.js';
import {
  envelopeSchema,
  networkConfigSchema,
  parseWith,
  type Envelope,
  type NetworkConfig,
  type NodeEntry,
} from '../node/protocol/index.js';

/*
 * What the operator needs from the running ledger to reconfigure it, behind a small interface:
 * the configuration in force, submitting a config transaction, and one node's height. The
 * production implementation talks to the nodes' HTTPS API with mutual TLS and the
 * organisations' admin identities (the operator issued them; they are in `<n>-<org>-admin`).
 */

export interface SubmitOutcome {
  /** 'VALID', or the validation code's name (e.g. BAD_CONFIG_UPDATE) if the network refused it. */
  readonly validation: string;
  readonly height?: number;
  /** Why, when a peer refused it under the configuration in force (400 PEER_BAD_CONFIG_UPDATE). */
  readonly message?: string;
}

export interface LedgerAdmin {
  /** The newest configuration in force among the nodes that answer; throws if none answers. */
  currentConfig(): Promise<NetworkConfig>;
  /** Submits a signed config transaction through a peer's gateway and waits for its validation. */
  submitConfig(envelope: Envelope): Promise<SubmitOutcome>;
  /** One node's committed height; throws if it does not answer. */
  nodeStatus(name: string): Promise<{ readonly height: number }>;
}

export interface LedgerAccess {
  /** The newest configuration the operator knows (genesis + published updates): where nodes are. */
  readonly known: NetworkConfig;
  /** The organisations' CA certificates (PEM), which the nodes' serving certificates chain to. */
  readonly caPems: readonly string[];
  /** Organisation -> its admin identity. */
  readonly admins: ReadonlyMap<string, CertificateWithKey>;
}

export type LedgerAdminFactory = (access: LedgerAccess) => LedgerAdmin;

export const LEDGER_TIMEOUT_MS = 3_000;
/** A config transaction is ordered and validated within this, or the submit is retried later. */
export const SUBMIT_TIMEOUT_MS = 30_000;
const RESPONSE_BYTES_MAX = 4 * 1024 * 1024;

/** An HTTP error answer of a node's API: its status and the API's stable error code, if any. */
export class LedgerApiError extends Error {
  override readonly name = 'LedgerApiError';
  constructor(
    readonly status: number,
    message: string,
    /** The API's `error.code` (e.g. PEER_BAD_CONFIG_UPDATE); undefined if the body had none. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/**
 * Whether an error answer to POST /gateway/submit is the network's verdict on the update: the
 * peer checked it under the configuration in force and refused it (400 PEER_BAD_CONFIG_UPDATE).
 * Anything else (401/403 credentials, 408/429/5xx load or time, another 400) says nothing about
 * the update, so the pending update is kept and submitted again.
 */
export function isConfigRefusal(e: unknown): e is LedgerApiError {
  return e instanceof LedgerApiError && e.status === 400 && e.code === 'PEER_BAD_CONFIG_UPDATE';
}

interface Target {
  readonly host: string;
  readonly apiPort: number;
}

function httpsJson(
  target: Target,
  access: LedgerAccess,
  admin: CertificateWithKey,
  method: 'GET' | 'POST',
  path: string,
  body: unknown,
  timeoutMs: number,
): Promise<unknown> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.host,
        port: target.apiPort,
        path,
        method,
        ca: [...access.caPems],
        cert: admin.certPem,
        key: admin.keyPem,
        minVersion: 'TLSv1.3',
        timeout: timeoutMs,
        headers: {
          Accept: 'application/json',
          ...(payload === undefined
            ? {}
            : { 'Content-Type': 'application/json', 'Content-Length': payload.length }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (bytes > RESPONSE_BYTES_MAX) req.destroy(new Error('response too large'));
          else chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
            return;
          }
          const status = res.statusCode ?? 0;
          if (status >= 400) {
            const error = (parsed as { error?: { message?: unknown; code?: unknown } } | undefined)?.error;
            const message = typeof error?.message === 'string' ? error.message : text.slice(0, 500);
            reject(
              new LedgerApiError(
                status,
                `${method} ${path} on ${target.host}:${target.apiPort}: HTTP ${status}: ${message}`,
                typeof error?.code === 'string' ? error.code : undefined,
              ),
            );
            return;
          }
          resolve(parsed);
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The production LedgerAdmin: mutual-TLS HTTPS to the nodes named in the known configuration. */
export function httpsLedgerAdmin(access: LedgerAccess): LedgerAdmin {
  const nodes: NodeEntry[] = [...access.known.orderers, ...access.known.peers];
  const adminOf = (org: string): CertificateWithKey => {
    const admin = access.admins.get(org) ?? [...access.admins.values()][0];
    if (admin === undefined) throw new Error('no admin identity to reach the ledger with');
    return admin;
  };
  return {
    async currentConfig() {
      const answers = await Promise.allSettled(
        nodes.map(async (n) =>
          parseWith(
            networkConfigSchema,
            await httpsJson(n, access, adminOf(n.org), 'GET', '/admin/config', undefined, LEDGER_TIMEOUT_MS),
            'config',
          ),
        ),
      );
      let best: NetworkConfig | undefined;
      const failures: string[] = [];
      for (const a of answers) {
        if (a.status === 'rejected') failures.push((a.reason as Error).message);
        else if (best === undefined || a.value.sequence > best.sequence) best = a.value;
      }
      if (best === undefined)
        throw new Error(`no node answered GET /admin/config: ${failures.slice(0, 3).join('; ')}`);
      return best;
    },
    async submitConfig(envelope) {
      parseWith(envelopeSchema, envelope, 'envelope');
      const failures: string[] = [];
      for (const peer of access.known.peers) {
        try {
          const outcome = (await httpsJson(
            peer,
            access,
            adminOf(peer.org),
            'POST',
            '/gateway/submit',
            { envelope, timeoutMs: SUBMIT_TIMEOUT_MS },
            SUBMIT_TIMEOUT_MS + LEDGER_TIMEOUT_MS,
          )) as { validation?: unknown; height?: unknown };
          return {
            validation: typeof outcome.validation === 'string' ? outcome.validation : 'UNKNOWN',
            ...(typeof outcome.height === 'number' ? { height: outcome.height } : {}),
          };
        } catch (e) {
          // Refused by the peer under the configuration in force: the network's answer.
          if (isConfigRefusal(e)) return { validation: 'REFUSED', message: e.message };
          // Anything else is this peer's trouble (or ours): try the next, then report it unknown.
          failures.push(e instanceof Error ? e.message : String(e));
        }
      }
      throw new Error(
        access.known.peers.length === 0
          ? 'no peer to submit a config transaction through'
          : `no peer took the config transaction: ${failures.slice(0, 3).join('; ')}`,
      );
    },
    async nodeStatus(name) {
      const node = nodes.find((n) => n.name === name);
      if (node === undefined) throw new Error(`node ${name} is not in the known configuration`);
      const report = (await httpsJson(
        node,
        access,
        adminOf(node.org),
        'GET',
        '/status',
        undefined,
        LEDGER_TIMEOUT_MS,
      )) as { height?: unknown };
      if (typeof report.height !== 'number') throw new Error(`node ${name} reported no height`);
      return { height: report.height };
    },
  };
}
