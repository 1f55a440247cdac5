import { request } from 'node:https';
import { z } from 'zod';
import type { NodeReport } from './status.js';

/** A node that does not answer within this is reported unreachable; status is best effort. */
export const NODE_STATUS_TIMEOUT_MS = 2_000;
const NODE_STATUS_BYTES_MAX = 64 * 1024;

/** What the node API's GET /status answers (node/api/server.ts); extra fields are ignored. */
const reportSchema = z.object({
  name: z.string(),
  role: z.string(),
  org: z.string().optional(),
  height: z.number().int().nonnegative(),
  headHash: z.string().optional(),
  /** An orderer's view of the current leader (null on peers). */
  leaderName: z.string().nullable().optional(),
  healthy: z.boolean(),
});

export interface NodeStatusTarget {
  readonly host: string;
  readonly apiPort: number;
  /** CA certificates the node's serving certificate must chain to. */
  readonly caPem: string;
  /** A client identity of the node's organisation (its admin), for an API that asks for one. */
  readonly clientCertPem: string;
  readonly clientKeyPem: string;
}

/** GET https://<host>:<apiPort>/status, verified against the organisation CAs. */
export function fetchNodeStatus(
  target: NodeStatusTarget,
  timeoutMs = NODE_STATUS_TIMEOUT_MS,
): Promise<NodeReport> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.host,
        port: target.apiPort,
        path: '/status',
        method: 'GET',
        ca: target.caPem,
        cert: target.clientCertPem,
        key: target.clientKeyPem,
        timeout: timeoutMs,
        headers: { Accept: 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (bytes > NODE_STATUS_BYTES_MAX) req.destroy(new Error('status response too large'));
          else chunks.push(c);
        });
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new Error(`GET /status answered HTTP ${res.statusCode ?? 0}`));
            return;
          }
          try {
            const parsed = reportSchema.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
            resolve({
              name: parsed.name,
              role: parsed.role,
              org: parsed.org ?? '',
              height: parsed.height,
              healthy: parsed.healthy,
              ...(parsed.headHash === undefined ? {} : { headHash: parsed.headHash }),
              ...(parsed.leaderName == null ? {} : { leader: parsed.leaderName }),
            });
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
