import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createOrgCa, issueNodeCert, issueUserCert, parseIdentity, renewCert } from '../../certs/index.js';
import { caDir, nodeDir, readUserIdentity, userDir, type ConfigChange } from '../config/index.js';
import {
  formatPolicy,
  nameSchema,
  policySatisfied,
  quorumSize,
  votingOrderers,
  type NetworkConfig,
  type NodeEntry,
  type NodeName,
  type OrgName,
  type PolicyExpr,
} from '../protocol/index.js';
import {
  addApproval,
  assembleEnvelope,
  draftProposal,
  ProposalError,
  type Signer,
} from '../sdk/config-proposal.js';
import {
  currentConfig,
  gatewaysFor,
  statusOf,
  submitConfigEnvelope,
  SUBMIT_TIMEOUT_MS,
  type Gateway,
  type Reconfigurer,
} from './config-updates.js';
import { controlRequest, supervisedNodes, type SupervisedNodes } from './control.js';
import { LocalError } from './errors.js';
import { nodeLogFile } from './paths.js';
import {
  LOCAL_VALIDITY_DAYS,
  readCa,
  replaceCertFile,
  replaceKeyFiles,
  sansFor,
  writeIdentityFiles,
} from './pki.js';
import { pollUntil, StopWaiting } from './wait.js';

export { currentConfig, SUBMIT_TIMEOUT_MS, type Reconfigurer } from './config-updates.js';

/*
 * The local-network shortcuts behind `chainnode node add|remove|rotate` and `chainnode org add`:
 * what an operator of a consortium would do by hand (issue a certificate, draft a config update,
 * collect admin approvals, submit it, start or stop the process, wait), done in one command on a
 * network started by `chainnode up`, whose directory holds every organisation's admin key.
 *
 * Order matters: each command first checks that the supervisor answers (it starts and stops the
 * processes) and that the change keeps a quorum, and only then submits; files it wrote are
 * removed if the network refuses the update, and never once it is committed.
 */

/** How long a new node may take to fetch the chain before the command gives up (it keeps running). */
export const CATCH_UP_TIMEOUT_MS = 180_000;
/**
 * A voting orderer counts as caught up within this many blocks of the highest: their /status
 * answers are sampled moments apart, and under load orderers commit several blocks per 100 ms.
 */
export const READY_MARGIN_BLOCKS = 16;
/** How long the quorum guard waits for enough voting orderers to be ready before refusing. */
export const QUORUM_WAIT_MS = 15_000;

/**
 * An orderer's membership as its /status reports it (`membership`: 'voting', 'learner' or
 * 'not-member'; null on a peer); undefined when it says nothing.
 */
export function membershipOf(status: {
  membership?: unknown;
}): 'voting' | 'learner' | 'not-member' | undefined {
  const m = status.membership;
  return m === 'voting' || m === 'learner' || m === 'not-member' ? m : undefined;
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
 * A change to the voting orderers: `join` (a new orderer that will be promoted once caught up),
 * `promote` a learner, `remove` a voter, or `restart` a voter (a key rotation: it is away a while).
 */
export type QuorumChange =
  { readonly op: 'join' } | { readonly op: 'promote' | 'remove' | 'restart'; readonly name: string };

/**
 * Why `change` would leave the network without an available quorum, or null. `heights` has the
 * height of every orderer that answered; one within READY_MARGIN_BLOCKS of the highest is ready.
 * The update itself is ordered by the voting orderers in force, so their quorum must be ready
 * too; after the change, the quorum of the new voting set must be.
 */
export function quorumProblem(
  config: NetworkConfig,
  change: QuorumChange,
  heights: ReadonlyMap<string, number>,
): string | null {
  const voters = votingOrderers(config.orderers).map((o) => o.name as string);
  const top = Math.max(0, ...heights.values());
  const ready = (name: string): boolean => {
    const h = heights.get(name);
    return h !== undefined && h >= top - READY_MARGIN_BLOCKS;
  };
  const readyVoters = voters.filter(ready);
  const notReady = voters.filter((n) => !ready(n));
  const missing = notReady.length === 0 ? '' : `; not ready: ${notReady.join(', ')}`;
  const nowNeeded = quorumSize(voters.length);
  if (readyVoters.length < nowNeeded)
    return `only ${readyVoters.length} of ${voters.length} voting orderers answer and are caught up, and ordering the update needs ${nowNeeded}${missing}`;
  let after: number;
  let have: number;
  let what: string;
  switch (change.op) {
    case 'join':
      // Checked again with the learner's real state before it is promoted.
      after = voters.length + 1;
      have = readyVoters.length + 1;
      what = 'adding a voting orderer';
      break;
    case 'promote':
      after = voters.length + 1;
      have = readyVoters.length + (ready(change.name) ? 1 : 0);
      what = `promoting ${change.name}${ready(change.name) ? '' : ' (not caught up)'}`;
      break;
    case 'remove':
      if (!voters.includes(change.name)) return null;
      after = voters.length - 1;
      have = readyVoters.filter((n) => n !== change.name).length;
      what = `removing ${change.name}`;
      break;
    case 'restart':
      if (!voters.includes(change.name)) return null;
      after = voters.length;
      have = readyVoters.filter((n) => n !== change.name).length;
      what = `restarting ${change.name}`;
      break;
    default: {
      const never: never = change;
      throw new Error(`unknown quorum change ${JSON.stringify(never)}`);
    }
  }
  const needed = quorumSize(after);
  if (have >= needed) return null;
  return `${what} leaves ${after} voting orderers, whose quorum is ${needed}, but only ${have} would be ready${missing}`;
}

/**
 * Refuses `change` (LOCAL_QUORUM, with the reason) unless enough voting orderers answer and are
 * caught up; waits up to QUORUM_WAIT_MS for a node that is only briefly behind.
 */
async function requireQuorum(r: Reconfigurer, config: NetworkConfig, change: QuorumChange): Promise<void> {
  const subjects = [
    ...votingOrderers(config.orderers),
    ...(change.op === 'promote'
      ? config.orderers.filter((o) => o.name === change.name && o.learner === true)
      : []),
  ];
  const last: { problem: string | null } = { problem: null };
  try {
    await pollUntil('enough voting orderers to be ready', QUORUM_WAIT_MS, async () => {
      const answers = await Promise.allSettled(subjects.map((o) => statusOf(r, o, config)));
      const heights = new Map<string, number>();
      const silent: string[] = [];
      answers.forEach((a, i) => {
        const name = subjects[i]?.name ?? '?';
        if (a.status === 'fulfilled' && typeof a.value.height === 'number') heights.set(name, a.value.height);
        else silent.push(`${name} (${a.status === 'rejected' ? errorText(a.reason) : 'no height'})`);
      });
      let problem = quorumProblem(config, change, heights);
      if (problem !== null && silent.length > 0) problem += `; no answer from ${silent.join(', ')}`;
      last.problem = problem;
      return problem === null ? true : undefined;
    });
  } catch (e) {
    if (last.problem === null) throw e;
    throw new LocalError('LOCAL_QUORUM', `refusing: ${last.problem}`, { cause: e });
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The nodes the supervisor of `chainnode up` runs, asked before anything is submitted: a change
 * committed without a supervisor would leave a member that never starts, a removed node still
 * running, or a new key nobody loads.
 */
async function requireSupervisor(r: Reconfigurer, command: string): Promise<SupervisedNodes> {
  try {
    return await supervisedNodes(r.dir);
  } catch (e) {
    if (!(e instanceof LocalError)) throw e;
    throw new LocalError(
      'LOCAL_NOT_RUNNING',
      `${command} starts and stops nodes through the supervisor of \`chainnode up\`, and nothing was submitted: ${e.message}`,
      { cause: e },
    );
  }
}

/** Whether `e` says the update was not committed (refused here or by the network): what the command wrote may go. */
function refused(e: unknown): boolean {
  return e instanceof ProposalError || (e instanceof LocalError && e.code === 'LOCAL_UPDATE_REFUSED');
}

/** Runs `submit`; if the update is refused, removes `paths` (files this command wrote for it) and rethrows. */
async function submitOrUndo<T>(
  r: Reconfigurer,
  paths: readonly string[],
  submit: () => Promise<T>,
): Promise<T> {
  try {
    return await submit();
  } catch (e) {
    if (refused(e)) {
      for (const path of paths) await rm(path, { recursive: true, force: true });
      r.progress(`the update was not committed: removed ${paths.join(', ')}`);
    }
    throw e;
  }
}

/**
 * Drafts `changes` against `current`, approves them with the local admins (refusing clearly when
 * they cannot satisfy the admin policy), submits through a peer (see submitConfigEnvelope) and
 * records the committed update in the network directory. Returns the new configuration and the
 * height of the block that committed it.
 */
export async function submitChanges(
  r: Reconfigurer,
  current: NetworkConfig,
  changes: readonly ConfigChange[],
  options: { avoid?: readonly string[]; gateways?: readonly Gateway[] } = {},
): Promise<{ config: NetworkConfig; height: number }> {
  const proposal = draftProposal(current, changes);
  const admins = await localAdmins(r.dir, current);
  const shortfall = adminShortfall(current, admins, r.dir);
  if (shortfall !== null) throw new ProposalError(shortfall);
  let approved = proposal;
  for (const admin of admins) approved = addApproval(approved, admin);
  const creator = admins.find((a) => a.org === r.identity.org) ?? admins[0];
  if (creator === undefined) throw new ProposalError('no admin to submit');
  const envelope = assembleEnvelope(approved, current, creator);
  const gateways = options.gateways ?? gatewaysFor(current, r.identity.org, options.avoid);
  const outcome = await submitConfigEnvelope(r, current, envelope, gateways);
  if (outcome.validation !== 'VALID') {
    throw new LocalError(
      'LOCAL_UPDATE_REFUSED',
      `the network refused the configuration update: ${outcome.validation} (block ${outcome.height}, txId ${outcome.txId})`,
    );
  }
  return { config: approved.config, height: outcome.height };
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
  throw new LocalError(
    'LOCAL_BAD_REQUEST',
    `no free pair of ports (port, port+1000) on ${host} from ${from}`,
  );
}

/** Whether something could listen on host:port now (an error to bind is the answer "no"). */
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
    throw new LocalError(
      'LOCAL_BAD_REQUEST',
      `${what} "${name}" is not a valid name (lower-case letters, digits and '-')`,
    );
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
  const show = (line: string): void => {
    if (line !== lastLine) r.progress(line);
    lastLine = line;
  };
  return pollUntil(`${entry.name} to catch up`, timeoutMs, async () => {
    await assertRunning(r.dir, entry.name);
    const [mine, others] = await Promise.all([
      statusOf(r, entry, config).then(
        (status) => ({ status }),
        (e: unknown) => ({ error: e instanceof Error ? e : new Error(String(e)) }),
      ),
      Promise.allSettled(
        votingOrderers(config.orderers)
          .filter((o) => o.name !== entry.name)
          .map((o) => statusOf(r, o, config)),
      ),
    ]);
    const target = Math.max(
      addedAt,
      ...others.map((s) => (s.status === 'fulfilled' ? (s.value.height ?? 0) : 0)),
    );
    if ('error' in mine) {
      show(`${entry.name}: starting…`);
      // Kept by pollUntil as the last error: a timeout says why it never answered.
      throw mine.error;
    }
    const height = mine.status.height ?? 0;
    show(`${entry.name} catching up: height ${height}/${target}`);
    // It has the block that added it, and is within the pipeline window of the orderers.
    return height >= addedAt && height >= target - config.consensus.window ? height : undefined;
  });
}

/** Waits until the orderer `entry` reports that it votes. */
async function waitVoting(
  r: Reconfigurer,
  entry: NodeEntry,
  config: NetworkConfig,
  timeoutMs: number,
): Promise<void> {
  await pollUntil(`${entry.name} to vote`, timeoutMs, async () => {
    await assertRunning(r.dir, entry.name);
    return membershipOf(await statusOf(r, entry, config)) === 'voting' ? true : undefined;
  });
}

/** Ends a wait at once, with the end of its log, if the supervisor saw `name` exit. */
async function assertRunning(dir: string, name: string): Promise<void> {
  // An unanswered question is retried by the wait (and named if it times out).
  const node = (await supervisedNodes(dir))[name];
  if (node === undefined || node.state !== 'exited') return;
  const log = await readFile(nodeLogFile(dir, name), 'utf8').catch(
    (e: unknown) => `(cannot read it: ${(e as Error).message})`,
  );
  const tail = log.trim().split('\n').slice(-3).join('\n    ');
  throw new StopWaiting(
    new LocalError(
      'LOCAL_NODE_EXITED',
      `${name} exited (code ${node.exitCode ?? '?'}) instead of starting; its configuration update is committed, ` +
        `so fix the cause and restart the network (chainnode down; chainnode up). Last lines of ${nodeLogFile(dir, name)}:\n    ${tail}`,
    ),
  );
}

/** Starts `name` through the supervisor; a failure says the update is committed. */
async function startNode(r: Reconfigurer, name: string): Promise<void> {
  try {
    await controlRequest(r.dir, { op: 'start', name });
  } catch (e) {
    throw new LocalError(
      'LOCAL_SUPERVISOR',
      `${name} is a committed member but did not start: ${(e as Error).message}; chainnode down and chainnode up start every member`,
      { cause: e },
    );
  }
}

export interface AddNodeOptions {
  readonly role: 'orderer' | 'peer';
  readonly org?: string;
  readonly name?: string;
  readonly host?: string;
  readonly timeoutMs?: number;
  /** Peers to submit through instead of the configuration's (tests use this to lose an answer). */
  readonly gateways?: readonly Gateway[];
}

function defaultName(dir: string, config: NetworkConfig, role: 'orderer' | 'peer', org: string): string {
  const taken = new Set(allNodes(config).map((n) => n.name as string));
  for (let i = 0; i < 10_000; i++) {
    const name = role === 'orderer' ? `orderer${i}` : `peer${i}-${org}`;
    if (!taken.has(name) && !existsSync(identityDir(dir, org, name, role))) return name;
  }
  throw new LocalError('LOCAL_BAD_REQUEST', `no free ${role} name in ${org} (tried 10000)`);
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
  await requireSupervisor(r, 'node add');
  let config = await currentConfig(r, dirConfig);
  const org = options.org ?? r.identity.org;
  if (!config.orgs.some((o) => o.name === org))
    throw new LocalError(
      'LOCAL_BAD_REQUEST',
      `no organisation named "${org}" (known: ${config.orgs.map((o) => o.name).join(', ')})`,
    );
  if (!existsSync(join(caDir(r.dir, org), 'key.pem')))
    throw new LocalError(
      'LOCAL_BAD_REQUEST',
      `the CA key of ${org} is not in ${r.dir}: this command issues the node's certificate with it`,
    );
  const name = options.name ?? defaultName(r.dir, config, options.role, org);
  checkName('node name', name);
  if (allNodes(config).some((n) => n.name === name))
    throw new LocalError('LOCAL_BAD_REQUEST', `a node named "${name}" is already a member`);
  const path = identityDir(r.dir, org, name, options.role);
  if (existsSync(path))
    throw new LocalError(
      'LOCAL_BAD_REQUEST',
      `${path} exists (a removed node's identity?); choose another --name`,
    );
  // Before anything is written: the new orderer will be promoted, growing the quorum.
  if (options.role === 'orderer') await requireQuorum(r, config, { op: 'join' });
  const host = options.host ?? config.orderers[0]?.host ?? '127.0.0.1';

  const timeoutMs = options.timeoutMs ?? CATCH_UP_TIMEOUT_MS;
  const added = await submitOrUndo(r, [path], async () => {
    const entry = await newNodeEntry(r, config, options.role, org, name, host);
    r.progress(
      `issued ${options.role} certificate for ${name} (${org}); address ${host}:${entry.port}, api ${entry.apiPort}`,
    );
    r.progress(
      `submitting add-${options.role} ${name}${options.role === 'orderer' ? ' (joins as a learner)' : ''}…`,
    );
    const change: ConfigChange =
      options.role === 'orderer' ? { op: 'add-orderer', entry } : { op: 'add-peer', entry };
    return { entry, ...(await submitChanges(r, config, [change], { gateways: options.gateways })) };
  });
  const entry = added.entry;
  config = added.config;
  r.progress(`configuration sequence ${config.sequence} committed; starting ${name}`);
  await startNode(r, name);
  const height = await waitCaughtUp(r, entry, config, added.height, timeoutMs);
  r.progress(`${name} has caught up (height ${height})`);
  if (options.role === 'peer') return entry;

  await requireQuorum(r, config, { op: 'promote', name });
  r.progress(`submitting promote-orderer ${name}…`);
  config = (await submitChanges(r, config, [{ op: 'promote-orderer', name }])).config;
  await waitVoting(r, entry, config, timeoutMs);
  const voters = votingOrderers(config.orderers).length;
  r.progress(`${name} votes: ${voters} voting orderers (tolerates ${Math.floor((voters - 1) / 3)} faulty)`);
  return config.orderers.find((o) => o.name === name) ?? entry;
}

/** `node remove`: remove-node committed, then the process stopped. */
export async function removeNode(
  r: Reconfigurer,
  dirConfig: NetworkConfig,
  name: string,
): Promise<NetworkConfig> {
  const supervised = await requireSupervisor(r, 'node remove');
  const config = await currentConfig(r, dirConfig);
  const problem = removalProblem(config, name);
  if (problem !== null) throw new LocalError('LOCAL_BAD_REQUEST', problem);
  const orderer = config.orderers.find((o) => o.name === name);
  const voting = orderer !== undefined && orderer.learner !== true;
  if (voting) await requireQuorum(r, config, { op: 'remove', name });
  r.progress(`submitting remove-node ${name}…`);
  const { config: next } = await submitChanges(r, config, [{ op: 'remove-node', name }], { avoid: [name] });
  if (supervised[name] === undefined) {
    r.progress(
      `configuration sequence ${next.sequence} committed; ${name} is not run by this network's supervisor`,
    );
  } else {
    r.progress(`configuration sequence ${next.sequence} committed; stopping ${name}`);
    await controlRequest(r.dir, { op: 'stop', name });
  }
  if (voting) {
    const n = votingOrderers(next.orderers).length;
    r.progress(`${name} removed: ${n} voting orderers (tolerates ${Math.floor((n - 1) / 3)} faulty)`);
  } else r.progress(`${name} removed`);
  return next;
}

/**
 * `node rotate`: for each node in turn, a renewed certificate (same key, adopted live), or with
 * `newKey` a new key pair: replace-cert commits the new certificate, then the node restarts with
 * the new key (the others refuse the old key from that block on) and catches up before the next.
 * Whether a node runs is the supervisor's word, not whether it answered in time.
 */
export async function rotateNodes(
  r: Reconfigurer,
  dirConfig: NetworkConfig,
  names: readonly string[],
  options: { newKey?: boolean; timeoutMs?: number } = {},
): Promise<NetworkConfig> {
  await requireSupervisor(r, 'node rotate');
  let config = await currentConfig(r, dirConfig);
  for (const name of names) {
    if (!allNodes(config).some((n) => n.name === name))
      throw new LocalError(
        'LOCAL_BAD_REQUEST',
        `no node named "${name}" (members: ${allNodes(config)
          .map((n) => n.name)
          .join(', ')})`,
      );
  }
  const timeoutMs = options.timeoutMs ?? CATCH_UP_TIMEOUT_MS;
  let done = 0;
  for (const name of names) {
    const entry = allNodes(config).find((n) => n.name === name);
    if (entry === undefined) continue;
    const role = config.orderers.some((o) => o.name === name) ? 'orderer' : 'peer';
    const path = nodeDir(r.dir, entry, role);
    const keyPem = await readFile(join(path, 'key.pem'), 'utf8').catch((e: unknown) => {
      throw new LocalError(
        'LOCAL_BAD_REQUEST',
        `cannot read the key of ${name} in ${path}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    });
    const running = (await requireSupervisor(r, 'node rotate'))[name]?.state === 'running';
    const step = `[${done + 1}/${names.length}] ${name}`;
    if (options.newKey === true) {
      config = await rotateKey(r, config, entry, role, path, running, timeoutMs, step);
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
      `${step}: certificate until ${before.notAfter.toISOString().slice(0, 10)} -> ${after.notAfter.toISOString().slice(0, 10)} (same key); submitting replace-cert…`,
    );
    config = (await submitChanges(r, config, [{ op: 'replace-cert', name, cert: certPem }])).config;
    await replaceCertFile(path, certPem);
    // The node adopts the renewed certificate live; it must still answer afterwards.
    if (running) {
      await pollUntil(`${name} to answer after the rotation`, SUBMIT_TIMEOUT_MS, async () => {
        await assertRunning(r.dir, name);
        await statusOf(r, entry, config);
        return true;
      });
    } else r.progress(`${name} is not running: it will use the new certificate when it starts`);
    done += 1;
  }
  r.progress(`rotated ${done} certificate(s)`);
  return config;
}

/** One node's key rotation: new key and certificate, replace-cert, restart with the new key, caught up. */
async function rotateKey(
  r: Reconfigurer,
  config: NetworkConfig,
  entry: NodeEntry,
  role: 'orderer' | 'peer',
  path: string,
  running: boolean,
  timeoutMs: number,
  step: string,
): Promise<NetworkConfig> {
  // A voting orderer is away while it restarts: the others must hold the quorum meanwhile.
  if (running && role === 'orderer') await requireQuorum(r, config, { op: 'restart', name: entry.name });
  const issued = await issueNodeCert({
    ca: await readCa(r.dir, entry.org),
    org: entry.org,
    role,
    name: entry.name,
    ...sansFor(entry.host),
    validityDays: LOCAL_VALIDITY_DAYS,
  });
  r.progress(`${step}: new key issued; submitting replace-cert…`);
  // Not through the node itself: the others stop talking to its old key at that very block.
  const committed = await submitChanges(
    r,
    config,
    [{ op: 'replace-cert', name: entry.name, cert: issued.certPem }],
    { avoid: [entry.name] },
  );
  // From that block on the others know only the new key: restart with it.
  if (running) {
    r.progress(`${entry.name}: stopping it to load the new key`);
    await controlRequest(r.dir, { op: 'stop', name: entry.name });
  }
  await replaceKeyFiles(path, issued.certPem, issued.keyPem);
  if (!running) {
    r.progress(`${entry.name} is not running: it will use the new key when it starts`);
    return committed.config;
  }
  r.progress(`${entry.name}: restarting with the new key`);
  await startNode(r, entry.name);
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
  await requireSupervisor(r, 'org add');
  let config = await currentConfig(r, dirConfig);
  const org = options.name;
  checkName('organisation name', org);
  if (config.orgs.some((o) => o.name === org))
    throw new LocalError('LOCAL_BAD_REQUEST', `organisation "${org}" is already a member`);
  const orgDir = join(r.dir, 'orgs', org);
  if (existsSync(orgDir))
    throw new LocalError(
      'LOCAL_BAD_REQUEST',
      `${orgDir} exists (an organisation removed earlier?); choose another name`,
    );
  const host = options.host ?? config.peers[0]?.host ?? config.orderers[0]?.host ?? '127.0.0.1';
  const base = config;
  const added = await submitOrUndo(r, [orgDir], async () => {
    const ca = await createOrgCa({ org, validityDays: LOCAL_VALIDITY_DAYS });
    await writeIdentityFiles(caDir(r.dir, org), ca.certPem, ca.keyPem);
    for (const role of ['admin', 'client'] as const) {
      const user = await issueUserCert({ ca, org, role, name: role, validityDays: LOCAL_VALIDITY_DAYS });
      await writeIdentityFiles(userDir(r.dir, org, role), user.certPem, user.keyPem);
    }
    r.progress(`created the CA of ${org} and its admin and client identities`);
    const withOrg: NetworkConfig = {
      ...base,
      orgs: [...base.orgs, { name: org as OrgName, caCerts: [ca.certPem] }],
    };
    const entries: NodeEntry[] = [];
    for (let i = 0; i < options.peers; i++) {
      const draft = { ...withOrg, peers: [...withOrg.peers, ...entries] };
      entries.push(await newNodeEntry(r, draft, 'peer', org, defaultName(r.dir, draft, 'peer', org), host));
    }
    const changes: ConfigChange[] = [
      { op: 'add-org', org: { name: org as OrgName, caCerts: [ca.certPem] } },
      ...entries.map((entry): ConfigChange => ({ op: 'add-peer', entry })),
    ];
    const submit = widen(base.policies.submit, org as OrgName);
    if (submit !== undefined) changes.push({ op: 'set-policy', policy: 'submit', expr: submit });
    r.progress(
      `submitting add-org ${org}${entries.length > 0 ? ` with ${entries.map((e) => e.name).join(', ')}` : ''}…`,
    );
    return { entries, ...(await submitChanges(r, base, changes)) };
  });
  config = added.config;
  r.progress(`configuration sequence ${config.sequence} committed`);
  for (const entry of added.entries) {
    await startNode(r, entry.name);
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
