import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createOrgCa, issueNodeCert, issueUserCert, parseIdentity, renewCert } from '../../certs/index.js';
import {
  caDir,
  nodeDir,
  readUserIdentity,
  userDir,
  writeConfigUpdate,
  type ConfigChange,
} from '../config/index.js';
import {
  formatPolicy,
  nameSchema,
  policySatisfied,
  votingOrderers,
  type NetworkConfig,
  type NodeEntry,
  type NodeName,
  type OrgName,
  type PolicyExpr,
} from '../protocol/index.js';
import { ChainnodeClient, ClientError } from '../sdk/index.js';
import { addApproval, assembleEnvelope, draftProposal, type Signer } from '../sdk/config-proposal.js';
import { controlRequest } from './control.js';
import { nodeLogFile } from './paths.js';
import { readLocalState } from './state.js';
import {
  LOCAL_VALIDITY_DAYS,
  readCa,
  replaceCertFile,
  replaceKeyFiles,
  sansFor,
  writeIdentityFiles,
} from './pki.js';

/*
 * The local-network shortcuts behind `chainnode node add|remove|rotate` and `chainnode org add`:
 * what an operator of a consortium would do by hand (issue a certificate, draft a config update,
 * collect admin approvals, submit it, start or stop the process, wait), done in one command on a
 * network started by `chainnode up`, whose directory holds every organisation's admin key.
 */

export const POLL_MS = 250;
export const STATUS_TIMEOUT_MS = 3_000;
/** How long a new node may take to fetch the chain before the command gives up (it keeps running). */
export const CATCH_UP_TIMEOUT_MS = 180_000;
export const SUBMIT_TIMEOUT_MS = 60_000;

export interface Reconfigurer {
  readonly dir: string;
  /** The identity the command runs as; its organisation's admin submits when it can. */
  readonly identity: { readonly org: string; readonly role: string };
  readonly user: { readonly certPem: string; readonly keyPem: string };
  /** Progress lines for a person (stderr). */
  readonly progress: (line: string) => void;
}

type Status = Record<string, unknown> & { height?: number; headHash?: string };

function clientFor(
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

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Polls `probe` until it returns a value; bounded by `timeoutMs`. */
export async function pollUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      if (e instanceof FatalError) throw e;
      last = e;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(
    `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`,
  );
}

async function statusOf(
  r: Reconfigurer,
  entry: NodeEntry,
  config: NetworkConfig,
): Promise<Status | undefined> {
  const client = clientFor(r, entry, config);
  try {
    return await withTimeout(client.status() as Promise<Status>, STATUS_TIMEOUT_MS, entry.name);
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}

/**
 * Whether an orderer's /status says it votes, is a learner, or was removed. Reads the fields an
 * orderer reports its membership in; undefined when the node does not say.
 */
export function membershipOf(status: Record<string, unknown>): 'voting' | 'learner' | 'removed' | undefined {
  const consensus = status.consensus as Record<string, unknown> | null | undefined;
  const candidates = [status.membership, status.member, status.memberState, consensus?.membership];
  for (const value of candidates) {
    if (typeof value !== 'string') continue;
    const v = value.toLowerCase();
    if (v.includes('learn') || v.includes('catch')) return 'learner';
    if (v.includes('remov') || v.includes('not')) return 'removed';
    if (v.includes('vot') || v === 'member') return 'voting';
  }
  if (typeof status.voting === 'boolean') return status.voting ? 'voting' : 'learner';
  if (typeof status.learner === 'boolean') return status.learner ? 'learner' : 'voting';
  return undefined;
}

/**
 * The configuration in force: asked of the running nodes (the highest sequence any answers),
 * checked against the network directory, which must know every committed update so that nodes
 * started from it find their entries.
 */
export async function currentConfig(r: Reconfigurer, dirConfig: NetworkConfig): Promise<NetworkConfig> {
  const nodes = [...dirConfig.peers, ...votingOrderers(dirConfig.orderers)];
  const refusals = { forbidden: 0 };
  const answers = await Promise.all(
    nodes.map(async (n) => {
      const client = clientFor(r, n, dirConfig);
      try {
        return await withTimeout(client.config(), STATUS_TIMEOUT_MS, n.name);
      } catch (e) {
        if (e instanceof ClientError && e.status === 403) refusals.forbidden += 1;
        return undefined;
      } finally {
        client.close();
      }
    }),
  );
  const configs = answers.filter((c): c is NetworkConfig => c !== undefined);
  if (configs.length === 0 && refusals.forbidden > 0)
    throw new Error(
      `the nodes refuse to show their configuration to ${r.identity.org}/${r.identity.role}: it takes an admin identity (--identity <org>/admin)`,
    );
  if (configs.length === 0)
    throw new Error(
      'no node of the network answered (is it running? chainnode status); cannot read the configuration in force',
    );
  const newest = configs.reduce((a, b) => (b.sequence > a.sequence ? b : a));
  if (newest.sequence > dirConfig.sequence) {
    throw new Error(
      `the network is at configuration sequence ${newest.sequence} but ${r.dir}/config-updates stops at ${dirConfig.sequence}: ` +
        'a configuration update was submitted without recording it here (chainnode config submit records it)',
    );
  }
  return newest;
}

/** Every organisation admin whose key is in the network directory (the local network holds them all). */
export async function localAdmins(dir: string, config: NetworkConfig): Promise<Signer[]> {
  const admins: Signer[] = [];
  for (const org of config.orgs) {
    if (!existsSync(join(userDir(dir, org.name, 'admin'), 'key.pem'))) continue;
    const { certPem, keyPem } = await readUserIdentity(dir, org.name, 'admin');
    admins.push({ org: org.name, certPem, keyPem });
  }
  return admins;
}

/** Why `admins` cannot approve an update of `config` (its admin policy), or null if they can. */
export function adminShortfall(
  config: NetworkConfig,
  admins: readonly Signer[],
  where: string,
): string | null {
  const orgs = new Set(admins.map((a) => a.org));
  if (policySatisfied(config.policies.admin, orgs)) return null;
  return (
    `not enough organisation admins to approve: the admin policy ${formatPolicy(config.policies.admin)} needs more than ` +
    `the admins whose keys are in ${where} (${[...orgs].join(', ') || 'none'})`
  );
}

/** Why `name` may not be removed from `config` by `node remove`, or null. */
export function removalProblem(config: NetworkConfig, name: string): string | null {
  const all = allNodes(config);
  if (!all.some((n) => n.name === name))
    return `no node named "${name}" (members: ${all.map((n) => n.name).join(', ')})`;
  const orderer = config.orderers.find((o) => o.name === name);
  if (orderer !== undefined && orderer.learner !== true && votingOrderers(config.orderers).length === 1)
    return `${name} is the last voting orderer: removing it would stop the network (add and promote another first)`;
  if (orderer === undefined && config.peers.length === 1)
    return `${name} is the last peer: nothing could endorse or serve clients (add another peer first)`;
  return null;
}

/**
 * Drafts `changes` against `current`, approves them with the local admins (refusing clearly when
 * they cannot satisfy the admin policy), submits through a peer, waits for the result and records
 * the committed update in the network directory. Returns the new configuration and the height
 * of the block that committed it.
 */
export async function submitChanges(
  r: Reconfigurer,
  current: NetworkConfig,
  changes: readonly ConfigChange[],
  options: { avoid?: readonly string[] } = {},
): Promise<{ config: NetworkConfig; height: number }> {
  const proposal = draftProposal(current, changes);
  const admins = await localAdmins(r.dir, current);
  const shortfall = adminShortfall(current, admins, r.dir);
  if (shortfall !== null) throw new Error(shortfall);
  let approved = proposal;
  for (const admin of admins) approved = addApproval(approved, admin);
  const creator = admins.find((a) => a.org === r.identity.org) ?? admins[0];
  if (creator === undefined) throw new Error('no admin to submit');
  const envelope = assembleEnvelope(approved, current, creator);
  const avoid = new Set(options.avoid ?? []);
  const gateways = [
    ...current.peers.filter((p) => p.org === r.identity.org && !avoid.has(p.name)),
    ...current.peers.filter((p) => p.org !== r.identity.org && !avoid.has(p.name)),
  ];
  let lastError: unknown;
  for (const gateway of gateways) {
    const client = clientFor(r, gateway, current);
    try {
      const outcome = await client.submitEnvelope(envelope, SUBMIT_TIMEOUT_MS);
      if (outcome.validation !== 'VALID') {
        throw new Error(
          `the network refused the configuration update: ${outcome.validation} (block ${outcome.height}, txId ${outcome.txId})`,
        );
      }
      await writeConfigUpdate(r.dir, envelope);
      return { config: approved.config, height: outcome.height };
    } catch (e) {
      // Unreachable gateway: try the next; a verdict from the network is final.
      if (e instanceof Error && /refused the configuration update/.test(e.message)) throw e;
      lastError = e;
    } finally {
      client.close();
    }
  }
  throw new Error(
    `no peer accepted the configuration update${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
  );
}

/** A port on `host` that no member uses and nothing listens on, with port+1000 free as its API port. */
async function freePorts(
  host: string,
  config: NetworkConfig,
  from: number,
): Promise<{ port: number; apiPort: number }> {
  const used = new Set(
    [...config.orderers, ...config.peers].flatMap((n) => (n.host === host ? [n.port, n.apiPort] : [])),
  );
  for (let port = from; port + 1000 <= 65_535 && port < from + 2_000; port++) {
    const apiPort = port + 1000;
    if (used.has(port) || used.has(apiPort)) continue;
    if ((await bindable(host, port)) && (await bindable(host, apiPort))) return { port, apiPort };
  }
  throw new Error(`no free pair of ports (port, port+1000) on ${host} from ${from}`);
}

function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen(port, host, () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}

function identityDir(dir: string, org: string, name: string, role: 'orderer' | 'peer'): string {
  return nodeDir(dir, { org: org as OrgName, name: name as NodeName }, role);
}

function allNodes(config: NetworkConfig): NodeEntry[] {
  return [...config.orderers, ...config.peers];
}

function checkName(what: string, name: string): void {
  if (!nameSchema.safeParse(name).success || !/^[a-z0-9][a-z0-9-]*$/.test(name))
    throw new Error(`${what} "${name}" is not a valid name (lower-case letters, digits and '-')`);
}

/**
 * Waits until `entry` answers, has the block that added it (`addedAt`) and is within the
 * pipeline window of the highest orderer, showing height x/y.
 */
async function waitCaughtUp(
  r: Reconfigurer,
  entry: NodeEntry,
  config: NetworkConfig,
  addedAt: number,
  timeoutMs: number,
): Promise<number> {
  let lastLine = '';
  return pollUntil(`${entry.name} to catch up`, timeoutMs, async () => {
    await assertRunning(r.dir, entry.name);
    const [mine, ...others] = await Promise.all([
      statusOf(r, entry, config),
      ...votingOrderers(config.orderers)
        .filter((o) => o.name !== entry.name)
        .map((o) => statusOf(r, o, config)),
    ]);
    const target = Math.max(addedAt, ...others.map((s) => s?.height ?? 0));
    const line =
      mine === undefined
        ? `${entry.name}: starting…`
        : `${entry.name} catching up: height ${mine.height ?? 0}/${target}`;
    if (line !== lastLine) r.progress(line);
    lastLine = line;
    if (mine?.height === undefined) return undefined;
    // It has the block that added it, and is within the pipeline window of the orderers.
    return mine.height >= addedAt && mine.height >= target - config.consensus.window
      ? mine.height
      : undefined;
  });
}

/** Fails at once, with the end of its log, if the supervisor saw `name` exit. */
async function assertRunning(dir: string, name: string): Promise<void> {
  const state = await readLocalState(dir).catch(() => null);
  const node = state?.nodes[name];
  if (node === undefined || node.state !== 'exited') return;
  const log = await readFile(nodeLogFile(dir, name), 'utf8').catch(() => '');
  const tail = log.trim().split('\n').slice(-3).join('\n    ');
  throw new FatalError(
    `${name} exited (code ${node.exitCode ?? '?'}) instead of starting; its configuration update is committed, ` +
      `so fix the cause and restart the network (chainnode down; chainnode up). Last lines of ${nodeLogFile(dir, name)}:\n    ${tail}`,
  );
}

/** An error that ends a wait at once instead of being retried. */
class FatalError extends Error {}

export interface AddNodeOptions {
  readonly role: 'orderer' | 'peer';
  readonly org?: string;
  readonly name?: string;
  readonly host?: string;
  readonly timeoutMs?: number;
}

function defaultName(dir: string, config: NetworkConfig, role: 'orderer' | 'peer', org: string): string {
  const taken = new Set(allNodes(config).map((n) => n.name as string));
  for (let i = 0; i < 10_000; i++) {
    const name = role === 'orderer' ? `orderer${i}` : `peer${i}-${org}`;
    if (!taken.has(name) && !existsSync(identityDir(dir, org, name, role))) return name;
  }
  throw new Error('no free node name');
}

/** Issues a node's identity and picks its address; writes its files. */
async function newNodeEntry(
  r: Reconfigurer,
  config: NetworkConfig,
  role: 'orderer' | 'peer',
  org: string,
  name: string,
  host: string,
): Promise<NodeEntry> {
  const sameRole = (role === 'orderer' ? config.orderers : config.peers).filter((n) => n.host === host);
  const fallback =
    (role === 'orderer' ? config.orderers : config.peers)[0]?.port ?? config.orderers[0]?.port ?? 7050;
  const from = Math.max(fallback, ...sameRole.map((n) => n.port)) + 1;
  const ports = await freePorts(host, config, from);
  const sans = sansFor(host);
  const issued = await issueNodeCert({
    ca: await readCa(r.dir, org),
    org,
    role,
    name,
    dnsNames: sans.dnsNames,
    ipAddresses: sans.ipAddresses,
    validityDays: LOCAL_VALIDITY_DAYS,
  });
  await writeIdentityFiles(identityDir(r.dir, org, name, role), issued.certPem, issued.keyPem);
  return {
    name: name as NodeName,
    org: org as OrgName,
    host,
    port: ports.port,
    apiPort: ports.apiPort,
    cert: issued.certPem,
  };
}

/**
 * `node add`: identity, config update (an orderer joins as a learner), process, catch-up, and for
 * an orderer the promotion to a voting member, waiting until it votes.
 */
export async function addNode(
  r: Reconfigurer,
  dirConfig: NetworkConfig,
  options: AddNodeOptions,
): Promise<NodeEntry> {
  let config = await currentConfig(r, dirConfig);
  const org = options.org ?? r.identity.org;
  if (!config.orgs.some((o) => o.name === org))
    throw new Error(`no organisation named "${org}" (known: ${config.orgs.map((o) => o.name).join(', ')})`);
  if (!existsSync(join(caDir(r.dir, org), 'key.pem')))
    throw new Error(
      `the CA key of ${org} is not in ${r.dir}: this command issues the node's certificate with it`,
    );
  const name = options.name ?? defaultName(r.dir, config, options.role, org);
  checkName('node name', name);
  if (allNodes(config).some((n) => n.name === name))
    throw new Error(`a node named "${name}" is already a member`);
  if (existsSync(identityDir(r.dir, org, name, options.role)))
    throw new Error(
      `${identityDir(r.dir, org, name, options.role)} exists (a removed node's identity?); choose another --name`,
    );
  const host = options.host ?? config.orderers[0]?.host ?? '127.0.0.1';
  const entry = await newNodeEntry(r, config, options.role, org, name, host);
  r.progress(
    `issued ${options.role} certificate for ${name} (${org}); address ${host}:${entry.port}, api ${entry.apiPort}`,
  );

  r.progress(
    `submitting add-${options.role} ${name}${options.role === 'orderer' ? ' (joins as a learner)' : ''}…`,
  );
  const added = await submitChanges(r, config, [
    options.role === 'orderer' ? { op: 'add-orderer', entry } : { op: 'add-peer', entry },
  ]);
  config = added.config;
  r.progress(`configuration sequence ${config.sequence} committed; starting ${name}`);
  await controlRequest(r.dir, { op: 'start', name });
  const timeoutMs = options.timeoutMs ?? CATCH_UP_TIMEOUT_MS;
  const height = await waitCaughtUp(r, entry, config, added.height, timeoutMs);
  r.progress(`${name} has caught up (height ${height})`);
  if (options.role === 'peer') return entry;

  r.progress(`submitting promote-orderer ${name}…`);
  config = (await submitChanges(r, config, [{ op: 'promote-orderer', name }])).config;
  const promotedAt = config.sequence;
  await waitVoting(r, entry, config, promotedAt, timeoutMs);
  const voters = votingOrderers(config.orderers).length;
  r.progress(`${name} votes: ${voters} voting orderers (tolerates ${Math.floor((voters - 1) / 3)} faulty)`);
  return config.orderers.find((o) => o.name === name) ?? entry;
}

async function waitVoting(
  r: Reconfigurer,
  entry: NodeEntry,
  config: NetworkConfig,
  sequence: number,
  timeoutMs: number,
): Promise<void> {
  await pollUntil(`${entry.name} to vote`, timeoutMs, async () => {
    const status = await statusOf(r, entry, config);
    if (status === undefined) return undefined;
    const membership = membershipOf(status);
    if (membership !== undefined) return membership === 'voting' ? true : undefined;
    // A node that does not report its membership: its configuration must name it a voter.
    const client = clientFor(r, entry, config);
    try {
      const inForce = await withTimeout(client.config(), STATUS_TIMEOUT_MS, entry.name);
      const mine = inForce.orderers.find((o) => o.name === entry.name);
      return inForce.sequence >= sequence &&
        mine !== undefined &&
        mine.learner !== true &&
        status.consensus != null
        ? true
        : undefined;
    } finally {
      client.close();
    }
  });
}

/** `node remove`: remove-node committed, then the process stopped. */
export async function removeNode(
  r: Reconfigurer,
  dirConfig: NetworkConfig,
  name: string,
): Promise<NetworkConfig> {
  const config = await currentConfig(r, dirConfig);
  const problem = removalProblem(config, name);
  if (problem !== null) throw new Error(problem);
  const orderer = config.orderers.find((o) => o.name === name);
  r.progress(`submitting remove-node ${name}…`);
  const { config: next } = await submitChanges(r, config, [{ op: 'remove-node', name }], { avoid: [name] });
  r.progress(`configuration sequence ${next.sequence} committed; stopping ${name}`);
  await controlRequest(r.dir, { op: 'stop', name });
  if (orderer !== undefined && orderer.learner !== true) {
    const n = votingOrderers(next.orderers).length;
    r.progress(`${name} removed: ${n} voting orderers (tolerates ${Math.floor((n - 1) / 3)} faulty)`);
  } else r.progress(`${name} removed`);
  return next;
}

/**
 * `node rotate`: for each node in turn, a renewed certificate (same key, adopted live), or with
 * `newKey` a new key pair: replace-cert commits the new certificate, then the node restarts with
 * the new key (the others refuse the old key from that block on) and catches up before the next.
 */
export async function rotateNodes(
  r: Reconfigurer,
  dirConfig: NetworkConfig,
  names: readonly string[],
  options: { newKey?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  let config = await currentConfig(r, dirConfig);
  for (const name of names) {
    if (!allNodes(config).some((n) => n.name === name))
      throw new Error(
        `no node named "${name}" (members: ${allNodes(config)
          .map((n) => n.name)
          .join(', ')})`,
      );
  }
  let done = 0;
  for (const name of names) {
    const entry = allNodes(config).find((n) => n.name === name);
    if (entry === undefined) continue;
    const role = config.orderers.some((o) => o.name === name) ? 'orderer' : 'peer';
    const path = nodeDir(r.dir, entry, role);
    const keyPem = await readFile(join(path, 'key.pem'), 'utf8').catch((e: unknown) => {
      throw new Error(`cannot read the key of ${name} in ${path}: ${(e as Error).message}`);
    });
    const wasRunning = (await statusOf(r, entry, config)) !== undefined;
    if (options.newKey === true) {
      config = await rotateKey(
        r,
        config,
        entry,
        role,
        path,
        wasRunning,
        options.timeoutMs ?? CATCH_UP_TIMEOUT_MS,
      );
      done += 1;
      continue;
    }
    const certPem = await renewCert({
      ca: await readCa(r.dir, entry.org),
      certPem: entry.cert,
      keyPem,
      validityDays: LOCAL_VALIDITY_DAYS,
    });
    const before = parseIdentity(entry.cert);
    const after = parseIdentity(certPem);
    r.progress(
      `[${done + 1}/${names.length}] ${name}: certificate until ${before.notAfter.toISOString().slice(0, 10)} -> ${after.notAfter.toISOString().slice(0, 10)} (same key); submitting replace-cert…`,
    );
    config = (await submitChanges(r, config, [{ op: 'replace-cert', name, cert: certPem }])).config;
    await replaceCertFile(path, certPem);
    // The node adopts the renewed certificate live; it must still answer afterwards.
    if (wasRunning) {
      await pollUntil(`${name} to answer after the rotation`, SUBMIT_TIMEOUT_MS, async () =>
        (await statusOf(r, entry, config)) === undefined ? undefined : true,
      );
    } else r.progress(`${name} is not running: it will use the new certificate when it starts`);
    done += 1;
  }
  r.progress(`rotated ${done} certificate(s)`);
}

/** One node's key rotation: new key and certificate, replace-cert, restart with the new key, caught up. */
async function rotateKey(
  r: Reconfigurer,
  config: NetworkConfig,
  entry: NodeEntry,
  role: 'orderer' | 'peer',
  path: string,
  wasRunning: boolean,
  timeoutMs: number,
): Promise<NetworkConfig> {
  const issued = await issueNodeCert({
    ca: await readCa(r.dir, entry.org),
    org: entry.org,
    role,
    name: entry.name,
    ...sansFor(entry.host),
    validityDays: LOCAL_VALIDITY_DAYS,
  });
  r.progress(`${entry.name}: new key issued; submitting replace-cert…`);
  // Not through the node itself: the others stop talking to its old key at that very block.
  const committed = await submitChanges(
    r,
    config,
    [{ op: 'replace-cert', name: entry.name, cert: issued.certPem }],
    { avoid: [entry.name] },
  );
  // From that block on the others know only the new key: restart with it.
  if (wasRunning) await controlRequest(r.dir, { op: 'stop', name: entry.name });
  await replaceKeyFiles(path, issued.certPem, issued.keyPem);
  if (!wasRunning) {
    r.progress(`${entry.name} is not running: it will use the new key when it starts`);
    return committed.config;
  }
  r.progress(`${entry.name}: restarting with the new key`);
  await controlRequest(r.dir, { op: 'start', name: entry.name });
  const height = await waitCaughtUp(r, entry, committed.config, committed.height, timeoutMs);
  r.progress(`${entry.name} rejoined with its new key (height ${height})`);
  return committed.config;
}

/** Appends `org` to an OR-of-organisations policy (the default submit policy); other policies are left alone. */
function widen(policy: PolicyExpr, org: OrgName): PolicyExpr | undefined {
  if ('or' in policy && policy.or.every((p) => 'org' in p)) return { or: [...policy.or, { org }] };
  return undefined;
}

/**
 * `org add`: a CA and admin/client users for a new organisation, add-org and add-peer in one
 * update (its members may submit when the submit policy is "any organisation"), its peers started.
 */
export async function addOrg(
  r: Reconfigurer,
  dirConfig: NetworkConfig,
  options: { name: string; peers: number; host?: string; timeoutMs?: number },
): Promise<NetworkConfig> {
  let config = await currentConfig(r, dirConfig);
  const org = options.name;
  checkName('organisation name', org);
  if (config.orgs.some((o) => o.name === org)) throw new Error(`organisation "${org}" is already a member`);
  if (existsSync(join(r.dir, 'orgs', org)))
    throw new Error(
      `${join(r.dir, 'orgs', org)} exists (an organisation removed earlier?); choose another name`,
    );
  const ca = await createOrgCa({ org, validityDays: LOCAL_VALIDITY_DAYS });
  await writeIdentityFiles(caDir(r.dir, org), ca.certPem, ca.keyPem);
  for (const role of ['admin', 'client'] as const) {
    const user = await issueUserCert({ ca, org, role, name: role, validityDays: LOCAL_VALIDITY_DAYS });
    await writeIdentityFiles(userDir(r.dir, org, role), user.certPem, user.keyPem);
  }
  r.progress(`created the CA of ${org} and its admin and client identities`);
  const withOrg: NetworkConfig = {
    ...config,
    orgs: [...config.orgs, { name: org as OrgName, caCerts: [ca.certPem] }],
  };
  const host = options.host ?? config.peers[0]?.host ?? config.orderers[0]?.host ?? '127.0.0.1';
  const entries: NodeEntry[] = [];
  for (let i = 0; i < options.peers; i++) {
    const name = defaultName(r.dir, { ...withOrg, peers: [...withOrg.peers, ...entries] }, 'peer', org);
    entries.push(
      await newNodeEntry(r, { ...withOrg, peers: [...withOrg.peers, ...entries] }, 'peer', org, name, host),
    );
  }
  const changes: ConfigChange[] = [
    { op: 'add-org', org: { name: org as OrgName, caCerts: [ca.certPem] } },
    ...entries.map((entry): ConfigChange => ({ op: 'add-peer', entry })),
  ];
  const submit = widen(config.policies.submit, org as OrgName);
  if (submit !== undefined) changes.push({ op: 'set-policy', policy: 'submit', expr: submit });
  r.progress(
    `submitting add-org ${org}${entries.length > 0 ? ` with ${entries.map((e) => e.name).join(', ')}` : ''}…`,
  );
  const added = await submitChanges(r, config, changes);
  config = added.config;
  r.progress(`configuration sequence ${config.sequence} committed`);
  for (const entry of entries) {
    await controlRequest(r.dir, { op: 'start', name: entry.name });
    const height = await waitCaughtUp(
      r,
      entry,
      config,
      added.height,
      options.timeoutMs ?? CATCH_UP_TIMEOUT_MS,
    );
    r.progress(`${entry.name} has caught up (height ${height})`);
  }
  return config;
}
