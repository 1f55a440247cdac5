import { join } from 'node:path';
import express, { type RequestHandler, type Router } from 'express';
import type { ChainNode } from '../../node/index.js';
import { contractDefinitionSchema, LIFECYCLE_CONTRACT } from '../../peer/lifecycle.js';
import { packageRoot } from '../../util/package-root.js';

/**
 * The explorer: a static page (HTML, CSS, vanilla JS; no build step, nothing from a CDN) that
 * every node serves at /explorer behind the same client-certificate check as the API, and that
 * reads the API of the node serving it (same origin, so no CORS).
 */
export function explorerStaticDir(): string {
  // From the package root, so the sources (node/...) and the build (dist/node/...) both find it.
  return join(packageRoot(), 'node', 'api', 'explorer', 'static');
}

/** Only this node's own scripts, styles and API: nothing inline, nothing from elsewhere. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The explorer's static files, mounted at /explorer; `auth` is the API's member check. */
export function explorerRouter(auth: RequestHandler): Router {
  const router = express.Router();
  router.use(auth);
  router.use((_req, res, next) => {
    res.set({
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    });
    next();
  });
  router.use(express.static(explorerStaticDir(), { index: 'index.html', redirect: true }));
  return router;
}

export interface NetworkMemberView {
  readonly name: string;
  readonly role: 'orderer' | 'peer';
  readonly org: string;
  readonly api: string;
  readonly explorer: string;
  /** This node itself. */
  readonly self: boolean;
  /** A mutual-TLS link with this node is up (always true for the node itself). */
  readonly linked: boolean;
  /** From the member's last signed status message (this node's own head for itself). */
  readonly height: number | null;
  readonly headHash: string | null;
  /** How long ago that status message arrived; 0 for the node itself, null if none yet. */
  readonly statusAgeMs: number | null;
}

/**
 * GET /network: the members of the configuration in force as this node knows them: names,
 * roles, orgs, API URLs, whether a link is up and the height each last announced. A client
 * certificate cannot read /admin/config, and the other nodes' APIs are other origins.
 */
export function networkView(node: ChainNode): {
  networkId: string;
  node: string;
  members: NetworkMemberView[];
} {
  const linked = new Set(node.connectedPeers().map((p) => p.name));
  const statuses = node.peerStatuses();
  const now = Date.now();
  const entries = [
    ...node.config.orderers.map((n) => ({ entry: n, role: 'orderer' as const })),
    ...node.config.peers.map((n) => ({ entry: n, role: 'peer' as const })),
  ];
  return {
    networkId: node.config.networkId,
    node: node.name,
    members: entries.map(({ entry, role }) => {
      const api = `https://${entry.host}:${String(entry.apiPort)}`;
      const self = entry.name === node.name;
      const status = statuses.get(entry.name);
      return {
        name: entry.name,
        role,
        org: entry.org,
        api,
        explorer: `${api}/explorer`,
        self,
        linked: self || linked.has(entry.name),
        height: self ? node.chainHead.height : (status?.height ?? null),
        headHash: self ? node.chainHead.hash : (status?.headHash ?? null),
        statusAgeMs: self ? 0 : status === undefined ? null : Math.max(0, now - status.receivedAtMs),
      };
    }),
  };
}

/** Definitions are small JSON documents; more contracts than this is not an explorer's job. */
const CONTRACTS_LISTED_MAX = 1_000;

/**
 * GET /contracts: the contracts deployed, from the lifecycle namespace of this node's state
 * (peers keep state; an orderer lists none).
 */
export async function contractsView(node: ChainNode): Promise<
  {
    name: string;
    version: string;
    codeHash: string;
    endorsementPolicy: unknown;
    deployedAt: { height: number; txIndex: number };
  }[]
> {
  const entries = await node.store.rangeState(LIFECYCLE_CONTRACT, {
    start: 'contract~',
    end: 'contract~\uffff',
    limit: CONTRACTS_LISTED_MAX,
  });
  return entries.flatMap((e) => {
    let json: unknown;
    try {
      json = JSON.parse(e.value.toString('utf8'));
    } catch {
      return [];
    }
    const parsed = contractDefinitionSchema.safeParse(json);
    return parsed.success ? [{ ...parsed.data, deployedAt: e.version }] : [];
  });
}
