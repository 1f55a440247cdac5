import { Agent, request } from 'node:https';
import type { Envelope, InvokePayload, SignedProposal } from '../protocol/index.js';

/** Connections the load generator may keep to one gateway peer: one per client in flight. */
export const GATEWAY_SOCKETS_MAX = 4_096;
const REQUEST_TIMEOUT_MS = 120_000;

export interface GatewayOutcome {
  readonly txId: string;
  readonly validation: string;
  readonly height: number;
}

/** A failed gateway call: the API's error code (or a client-side one) and message. */
export class GatewayCallError extends Error {
  override readonly name = 'GatewayCallError';
  constructor(
    readonly code: string,
    message: string,
    /** The request went out on a kept-alive socket from an earlier call. */
    readonly reusedSocket = false,
  ) {
    super(message);
  }
}

/**
 * The two halves of a submit as separate calls, so the harness can time endorsement on its
 * own: POST /gateway/endorse (simulate on the policy's peers, collect endorsements) and POST
 * /gateway/submit (order, then wait until the gateway peer validated and committed it). The
 * SDK's `ChainnodeClient.submit` makes the same two calls back to back with the same signing
 * (sdk/sign.ts); it does not expose the endorse step alone.
 */
export class GatewayClient {
  private readonly agent: Agent;
  private readonly base: URL;

  constructor(options: { url: string; certPem: string; keyPem: string; caCerts: readonly string[] }) {
    this.base = new URL(options.url);
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: GATEWAY_SOCKETS_MAX,
      cert: options.certPem,
      key: options.keyPem,
      ca: [...options.caCerts],
      minVersion: 'TLSv1.3',
    });
  }

  get url(): string {
    return this.base.toString();
  }

  async endorse(proposal: SignedProposal): Promise<InvokePayload> {
    return (await this.post<{ payload: InvokePayload }>('/gateway/endorse', { proposal })).payload;
  }

  submit(envelope: Envelope): Promise<GatewayOutcome> {
    return this.post('/gateway/submit', { envelope });
  }

  close(): void {
    this.agent.destroy();
  }

  /**
   * A kept-alive socket the server closed as idle (its keepAliveTimeout) can fail the next
   * request with ECONNRESET before anything was processed; such a request, on a reused socket,
   * is sent once more on a fresh one. Both calls are safe to repeat: an endorsement is a
   * simulation, and a resubmitted envelope has the same txId, which ordering deduplicates.
   */
  private async post<T>(path: string, body: unknown): Promise<T> {
    const payload = Buffer.from(JSON.stringify(body));
    try {
      return await this.send<T>(path, payload);
    } catch (e) {
      if (e instanceof GatewayCallError && e.code === 'ECONNRESET' && e.reusedSocket)
        return this.send<T>(path, payload);
      throw e;
    }
  }

  private send<T>(path: string, payload: Buffer): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          method: 'POST',
          host: this.base.hostname,
          port: this.base.port,
          path,
          agent: this.agent,
          timeout: REQUEST_TIMEOUT_MS,
          headers: { 'content-type': 'application/json', 'content-length': String(payload.length) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => {
            reject(new GatewayCallError('CLIENT_RESPONSE', e.message));
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text === '' ? undefined : JSON.parse(text);
            } catch {
              reject(new GatewayCallError('CLIENT_BAD_RESPONSE', `not JSON from ${path}`));
              return;
            }
            const status = res.statusCode ?? 0;
            if (status >= 400) {
              const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
              reject(
                new GatewayCallError(err?.code ?? `HTTP_${String(status)}`, err?.message ?? `HTTP ${status}`),
              );
              return;
            }
            resolve(parsed as T);
          });
        },
      );
      req.on('timeout', () => req.destroy(new GatewayCallError('CLIENT_TIMEOUT', `${path} timed out`)));
      req.on('error', (e: NodeJS.ErrnoException) => {
        reject(
          e instanceof GatewayCallError
            ? e
            : new GatewayCallError(e.code ?? 'CLIENT_UNREACHABLE', e.message, req.reusedSocket),
        );
      });
      req.end(payload);
    });
  }
}
