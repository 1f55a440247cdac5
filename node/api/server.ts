import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import YAML from 'yaml';
import { z } from 'zod';
import type { MembershipVerifier } from '../config/index.js';
import type { ChainNode } from '../node/index.js';
import type { OrdererRole } from '../orderer/index.js';
import type { PeerRole } from '../peer/index.js';
import {
  envelopeSchema,
  ENVELOPE_BYTES_MAX,
  inclusionProof,
  parseWith,
  signedProposalSchema,
  validationCodeName,
  type Block,
} from '../protocol/index.js';
import { requireRole, type Caller } from './auth.js';
import { ApiError, errorHandler } from './errors.js';
import { contractsView, explorerRouter, networkView } from './explorer/index.js';
import { packageRoot } from '../util/package-root.js';
import { nodeMetrics } from './metrics.js';

/** Request bodies: a signed envelope plus JSON framing. */
export const REQUEST_BODY_BYTES_MAX = 2 * ENVELOPE_BYTES_MAX;
/** Blocks one listing may return. */
export const BLOCK_LIST_MAX = 100;
/** Concurrent event-stream subscribers per node. */
export const EVENT_STREAMS_MAX = 256;
/** Keep-alive comment on idle event streams, so proxies do not cut them. */
const SSE_KEEPALIVE_MS = 15_000;

export interface ApiOptions {
  readonly node: ChainNode;
  readonly orderer?: OrdererRole | undefined;
  readonly peer?: PeerRole | undefined;
  /** TLS identity of the node (its certificate serves the API too). */
  readonly certPem: string;
  readonly keyPem: string;
  readonly host?: string;
  readonly port?: number;
  readonly logger: Logger;
  /** Called by POST /admin/stop after the response is sent. */
  readonly onStopRequested?: () => void;
}

export interface ApiServer {
  readonly url: string;
  close(): Promise<void>;
}

function blockView(block: Block, hash: string, codes: readonly number[], certificate: unknown) {
  return {
    hash,
    header: block.header,
    transactions: block.transactions.map((e, i) => ({
      txId: e.payload.txId,
      type: e.payload.type,
      contract: e.payload.type === 'invoke' ? e.payload.proposal.contract : undefined,
      fn: e.payload.type === 'invoke' ? e.payload.proposal.fn : undefined,
      creator: e.payload.type === 'invoke' ? e.payload.proposal.creator.org : e.payload.creator.org,
      validationCode: codes[i],
      validation: validationCodeName(codes[i] ?? -1),
    })),
    commitCertificate: certificate,
  };
}

const heightParam = z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/**
 * The node's HTTP API over TLS (express): health and metrics for machines, chain reads for
 * everyone with a consortium certificate, the gateway on peers, and admin routes for admins.
 * The OpenAPI document (docs/openapi.yaml) is served at /openapi.json.
 */
export async function startApiServer(options: ApiOptions): Promise<ApiServer> {
  const { node, peer, orderer, logger } = options;
  const currentMembers = (): MembershipVerifier => node.members;
  const anyMember = requireRole(currentMembers, ['client', 'admin', 'peer', 'orderer']);
  const admin = requireRole(currentMembers, ['admin']);
  const empty = { connectedPeers: 0, framesDropped: 0, bytesIn: 0, bytesOut: 0 };
  const { registry, submitSeconds } = nodeMetrics(node, orderer, () => node.transportMetrics() ?? empty);
  const openapi = YAML.parse(readFileSync(join(packageRoot(), 'docs', 'openapi.yaml'), 'utf8')) as unknown;
  let streams = 0;

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: REQUEST_BODY_BYTES_MAX }));

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true, node: node.name });
  });
  app.get('/readyz', async (_req, res) => {
    const dbOk = await node.store.head().then(
      () => true,
      () => false,
    );
    const linked =
      node.config.orderers.length + node.config.peers.length === 1 || node.connectedPeers().length > 0;
    const ready = dbOk && linked;
    res.status(ready ? 200 : 503).json({ ready, database: dbOk, linked });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  app.get('/status', anyMember, (_req, res) => {
    const consensus = orderer?.metrics();
    const entry = node.selfEntry;
    res.json({
      name: node.name,
      role: node.role,
      org: entry.org,
      networkId: node.config.networkId,
      height: node.chainHead.height,
      headHash: node.chainHead.hash,
      leader: consensus === undefined ? null : consensus.leader === node.name,
      leaderName: consensus?.leader ?? null,
      view: consensus?.view ?? null,
      viewChanges: consensus?.viewChanges ?? null,
      consensus: consensus ?? null,
      // Orderers: 'voting', 'learner' (following the chain until promoted) or 'not-member'.
      membership: orderer?.membership ?? null,
      configSequence: node.config.sequence,
      healthy: true,
      connectedPeers: node.connectedPeers().map((p) => p.name),
      api: `https://${entry.host}:${String(entry.apiPort)}`,
    });
  });

  app.get('/network', anyMember, (_req, res) => {
    res.json(networkView(node));
  });
  app.get('/contracts', anyMember, async (_req, res) => {
    res.json(await contractsView(node));
  });
  app.use('/explorer', explorerRouter(anyMember));

  app.get('/blocks', anyMember, async (req, res) => {
    const head = node.chainHead.height;
    const limit = Math.min(heightParam.catch(20).parse(req.query.limit), BLOCK_LIST_MAX);
    const to = Math.min(heightParam.catch(head).parse(req.query.to ?? head), head);
    const heights = Array.from({ length: Math.min(limit, to + 1) }, (_, i) => to - i);
    const blocks = await Promise.all(heights.map((h) => node.store.getBlock(h)));
    res.json(
      blocks.flatMap((b) =>
        b === null
          ? []
          : [
              {
                height: b.block.header.height,
                hash: b.hash,
                txCount: b.block.header.txCount,
                timestampMs: b.block.header.timestampMs,
                valid: b.validationCodes.filter((c) => c === 0).length,
              },
            ],
      ),
    );
  });

  app.get('/blocks/:id', anyMember, async (req, res) => {
    const id = String(req.params.id);
    const height = id === 'latest' ? node.chainHead.height : heightParam.safeParse(id).data;
    const byHash = /^[0-9a-f]{64}$/.test(id);
    if (!byHash && height === undefined)
      throw new ApiError(400, 'API_BAD_BLOCK_ID', 'a block is named by its height, its hash or "latest"');
    const stored = byHash ? await node.store.getBlockByHash(id) : await node.store.getBlock(height ?? 0);
    if (stored === null) throw new ApiError(404, 'API_NOT_FOUND', `no block ${id}`);
    res.json({
      ...blockView(stored.block, stored.hash, stored.validationCodes, stored.commitCertificate),
      createdAt: stored.createdAt,
    });
  });

  app.get('/transactions/:txId', anyMember, async (req, res) => {
    const txId = String(req.params.txId);
    if (!/^[0-9a-f]{64}$/.test(txId))
      throw new ApiError(400, 'API_BAD_TXID', 'a transaction id is 64 lowercase hex characters');
    const tx = await node.store.getTransaction(txId);
    if (tx === null) throw new ApiError(404, 'API_NOT_FOUND', `no transaction ${txId}`);
    const block = await node.store.getBlock(tx.height);
    res.json({
      txId,
      height: tx.height,
      txIndex: tx.txIndex,
      validationCode: tx.validationCode,
      validation: validationCodeName(tx.validationCode),
      envelope: tx.envelope,
      // Inclusion proof: with the header and its commit certificate, anyone can check this
      // transaction is final without trusting this node.
      proof:
        block === null
          ? null
          : {
              ...inclusionProof(block.block, tx.txIndex),
              header: block.block.header,
              commitCertificate: block.commitCertificate,
            },
    });
  });

  app.get('/events', anyMember, (req, res) => {
    if (streams >= EVENT_STREAMS_MAX) throw new ApiError(503, 'API_BUSY', 'too many event streams');
    streams += 1;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.write(`event: hello\ndata: ${JSON.stringify({ height: node.chainHead.height })}\n\n`);
    const onBlock = ({ block, codes }: { block: Block; codes: readonly number[] }): void => {
      const event = {
        height: block.header.height,
        txCount: block.header.txCount,
        timestampMs: block.header.timestampMs,
        transactions: block.transactions.map((e, i) => ({
          txId: e.payload.txId,
          validation: validationCodeName(codes[i] ?? -1),
        })),
      };
      res.write(`event: block\ndata: ${JSON.stringify(event)}\n\n`);
    };
    node.events.on('block', onBlock);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), SSE_KEEPALIVE_MS);
    req.on('close', () => {
      streams -= 1;
      clearInterval(keepAlive);
      node.events.off('block', onBlock);
    });
  });

  if (peer !== undefined) {
    const proposalBody = z.object({ proposal: z.unknown() }).strict();
    app.post('/gateway/endorse', anyMember, async (req, res) => {
      const { proposal } = parseWith(proposalBody, req.body, 'body');
      const signed = parseWith(signedProposalSchema, proposal, 'proposal');
      res.json({ payload: await peer.gateway.endorse(signed) });
    });
    app.post('/gateway/evaluate', anyMember, async (req, res) => {
      const { proposal } = parseWith(proposalBody, req.body, 'body');
      res.json({
        result: await peer.gateway.evaluate(parseWith(signedProposalSchema, proposal, 'proposal')),
      });
    });
    const submitBody = z
      .object({ envelope: z.unknown(), timeoutMs: z.number().int().min(1).max(300_000).optional() })
      .strict();
    app.post('/gateway/submit', anyMember, async (req, res) => {
      const body = parseWith(submitBody, req.body, 'body');
      const envelope = parseWith(envelopeSchema, body.envelope, 'envelope');
      const timer = submitSeconds.startTimer();
      const outcome = await peer.gateway.submit(envelope, body.timeoutMs);
      timer();
      res.json({ ...outcome, validation: validationCodeName(outcome.code) });
    });
  }

  app.get('/admin/config', admin, (_req, res) => {
    res.json(node.config);
  });
  app.post('/admin/stop', admin, (_req, res) => {
    const caller = res.locals.caller as Caller;
    logger.warn({ by: `${caller.name}@${caller.org}` }, 'stop requested through the API');
    res.status(202).json({ stopping: node.name });
    res.on('finish', () => options.onStopRequested?.());
  });

  app.use((_req: Request, _res: Response, next: NextFunction) => {
    next(new ApiError(404, 'API_NOT_FOUND', 'no such route (see /openapi.json)'));
  });
  app.use(
    errorHandler((err) => {
      logger.error({ err }, 'API request failed');
    }),
  );

  const tlsContext = (certPem: string) => ({
    key: options.keyPem,
    cert: certPem,
    ca: node.config.orgs.flatMap((o) => o.caCerts),
  });
  let presented = options.certPem;
  const server: Server = createServer(
    {
      ...tlsContext(presented),
      minVersion: 'TLSv1.3',
      // Ask for a certificate but let probes without one reach /healthz, /readyz and /metrics;
      // every other route checks the certificate itself (auth.ts).
      requestCert: true,
      rejectUnauthorized: false,
    },
    app,
  );
  // After a config update: a renewal of this node's certificate (same key) is presented from
  // then on, as the transport does on the node port, and the CA list follows the configuration.
  const ownKey = spkiOf(createPublicKey(options.keyPem));
  let sequence = node.config.sequence;
  const onBlock = (): void => {
    if (node.config.sequence === sequence) return;
    sequence = node.config.sequence;
    const cert = node.selfEntry.cert;
    const renewed = cert !== presented && spkiOf(new X509Certificate(cert).publicKey).equals(ownKey);
    if (renewed) presented = cert;
    server.setSecureContext(tlsContext(presented));
    if (renewed) logger.info({ node: node.name }, "the API presents this node's renewed certificate");
  };
  node.events.on('block', onBlock);
  const entry = node.selfEntry;
  const host = options.host ?? entry.host;
  const port = options.port ?? entry.apiPort;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const url = `https://${host}:${String(boundPort)}`;
  logger.info({ url }, 'API listening');
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        node.events.off('block', onBlock);
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

function spkiOf(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}
