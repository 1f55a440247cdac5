import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLatestConfig, loadNetworkDir, nodeDir, type ConfigChange } from '../../node/config/index.js';
import {
  currentConfig,
  writePendingUpdate,
  type Gateway,
  type Reconfigurer,
} from '../../node/local/config-updates.js';
import { controlSocketPath, supervisedNodes } from '../../node/local/control.js';
import { addNode, localAdmins, submitChanges } from '../../node/local/membership.js';
import { pendingUpdatesDir } from '../../node/local/paths.js';
import { pollUntil } from '../../node/local/wait.js';
import type { NetworkConfig, NodeEntry } from '../../node/protocol/index.js';
import { addApproval, assembleEnvelope, ChainnodeClient, draftProposal } from '../../node/sdk/index.js';
import { randomLoopback, runChainnode, type CommandResult } from '../support/processes.js';
import { fingerprintOf, presentedFingerprint } from './tls-probe.js';

// The local-network shortcuts against a small running network (`up --detach`: one orderer, two
// organisations with a peer each): what they check before submitting, what they leave behind
// when the network refuses, and how a committed update whose answer was lost is still recorded.

let dir: string;
/** Processes this test paused (SIGSTOP), resumed whatever happens. */
const paused = new Set<number>();

function chainnode(...args: string[]): Promise<CommandResult> {
  return runChainnode(['--dir', dir, ...args], { DATABASE_URL: '' });
}

async function latest(): Promise<NetworkConfig> {
  return loadLatestConfig(dir, (await loadNetworkDir(dir)).config);
}

async function identity(org: string, role: string): Promise<{ certPem: string; keyPem: string }> {
  const path = join(dir, 'orgs', org, 'users', role);
  return {
    certPem: await readFile(join(path, 'cert.pem'), 'utf8'),
    keyPem: await readFile(join(path, 'key.pem'), 'utf8'),
  };
}

async function reconfigurer(progress: string[]): Promise<Reconfigurer> {
  return {
    dir,
    identity: { org: 'org1', role: 'admin' },
    user: await identity('org1', 'admin'),
    progress: (line) => progress.push(line),
  };
}

async function clientOf(entry: NodeEntry): Promise<ChainnodeClient> {
  const config = await latest();
  return ChainnodeClient.connect({
    url: `https://${entry.host}:${entry.apiPort}`,
    ...(await identity('org1', 'admin')),
    caCerts: config.orgs.flatMap((o) => o.caCerts),
  });
}

/** The configuration sequence the running nodes report (asked through the CLI). */
async function sequenceInForce(): Promise<number> {
  const show = await chainnode('config', 'show', '--json');
  if (show.code !== 0) throw new Error(`config show failed: ${show.stderr}`);
  return (JSON.parse(show.stdout) as NetworkConfig).sequence;
}

/**
 * A gateway that is not a peer: it presents peer0-org1's certificate on another port and, for
 * POST /gateway/submit, either refuses (HTTP 400, as a peer refusing a stale update does) or
 * passes the envelope to the real peer, waits for its answer and then drops the connection (an
 * answer lost after the network committed the update).
 */
async function fakeGateway(
  mode: 'refuse' | 'lose-answer',
): Promise<{ entry: Gateway; server: Server; calls: () => number }> {
  const config = await latest();
  const peer = config.peers.find((p) => p.name === 'peer0-org1')!;
  const path = nodeDir(dir, peer, 'peer');
  const real = await clientOf(peer);
  let calls = 0;
  const server = createServer(
    { cert: await readFile(join(path, 'cert.pem')), key: await readFile(join(path, 'key.pem')) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        calls += 1;
        if (mode === 'refuse') {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              error: { code: 'PEER_BAD_CONFIG_UPDATE', message: 'refused by the test gateway' },
            }),
          );
          return;
        }
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          envelope: Parameters<ChainnodeClient['submitEnvelope']>[0];
          timeoutMs?: number;
        };
        real.submitEnvelope(body.envelope, body.timeoutMs).then(
          () => req.socket.destroy(),
          () => req.socket.destroy(),
        );
      });
    },
  );
  server.on('close', () => {
    real.close();
  });
  await new Promise<void>((resolve) => server.listen(0, peer.host, resolve));
  const { port } = server.address() as AddressInfo;
  return { entry: { name: `fake-${mode}`, host: peer.host, apiPort: port }, server, calls: () => calls };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
}

/** A set-consensus change the network accepts: batchTimeoutMs one more than in force. */
function nudge(config: NetworkConfig): ConfigChange[] {
  return [{ op: 'set-consensus', params: { batchTimeoutMs: config.consensus.batchTimeoutMs + 1 } }];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chainnode-membership-'));
  // The embedded PostgreSQL runs as user 'postgres' when tests run as root: it must traverse dir.
  await chmod(dir, 0o755);
  const { host, basePort } = randomLoopback();
  const init = await chainnode(
    'network',
    'init',
    '--orderers',
    '1',
    '--orgs',
    '2',
    '--host',
    host,
    '--base-port',
    String(basePort),
  );
  expect(init.code).toBe(0);
  const up = await chainnode('up', '--detach', '--no-samples', '--json');
  if (up.code !== 0) throw new Error(`up failed: ${up.stderr}`);
}, 180_000);

afterAll(async () => {
  for (const pid of paused) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch (e) {
      // Already gone (killed by the supervisor): nothing to resume.
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }
  await chainnode('down');
  await rm(dir, { recursive: true, force: true });
}, 120_000);

describe('local-network shortcuts on a running network', () => {
  it('refuse before writing or submitting anything when the supervisor does not answer', async () => {
    const before = await sequenceInForce();
    const socket = controlSocketPath(dir);
    // The supervisor runs, but its control socket is out of reach.
    await rename(socket, `${socket}.away`);
    try {
      const add = await chainnode('node', 'add', '--role', 'peer', '--name', 'peer1-org1');
      expect(add.code).toBe(1);
      expect(add.stderr).toContain('node add starts and stops nodes through the supervisor');
      expect(add.stderr).toContain('nothing was submitted');
      const remove = await chainnode('node', 'remove', 'peer0-org2');
      expect(remove.code).toBe(1);
      expect(remove.stderr).toContain('node remove starts and stops nodes through the supervisor');
    } finally {
      await rename(`${socket}.away`, socket);
    }
    expect(await sequenceInForce()).toBe(before);
    expect(existsSync(join(dir, 'orgs', 'org1', 'peers', 'peer1-org1'))).toBe(false);
    expect((await latest()).peers.map((p) => p.name)).toEqual(['peer0-org1', 'peer0-org2']);
  });

  it('removes the identity it issued when the network refuses the update, so a retry succeeds', async () => {
    const gateway = await fakeGateway('refuse');
    const progress: string[] = [];
    try {
      const r = await reconfigurer(progress);
      await expect(
        addNode(r, await latest(), {
          role: 'peer',
          org: 'org1',
          name: 'peer1-org1',
          gateways: [gateway.entry],
        }),
      ).rejects.toMatchObject({ code: 'LOCAL_UPDATE_REFUSED' });
    } finally {
      await closeServer(gateway.server);
    }
    expect(gateway.calls()).toBe(1);
    expect(existsSync(join(dir, 'orgs', 'org1', 'peers', 'peer1-org1'))).toBe(false);
    expect(progress.some((l) => l.includes('the update was not committed: removed'))).toBe(true);
    expect(existsSync(pendingUpdatesDir(dir)) ? await readdir(pendingUpdatesDir(dir)) : []).toEqual([]);

    // The same command again, through the real peers; a 1 s catch-up wait says why it gave up.
    const retry = await chainnode('node', 'add', '--role', 'peer', '--name', 'peer1-org1', '--timeout', '1');
    expect(retry.stderr).toContain('configuration sequence');
    expect(retry.stderr).toContain('committed; starting peer1-org1');
    expect(retry.code).toBe(1);
    expect(retry.stderr).toMatch(/timed out after 1 s waiting for peer1-org1 to catch up \(last error: .+\)/);
    // It is a member and keeps starting: it answers soon, then goes again.
    const peer1 = (await latest()).peers.find((p) => p.name === 'peer1-org1')!;
    const client = await clientOf(peer1);
    try {
      await pollUntil('peer1-org1 to answer', 60_000, async () => (await client.status()).height as number);
    } finally {
      client.close();
    }
    const removed = await chainnode('node', 'remove', 'peer1-org1', '--json');
    expect(removed.code).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({
      removed: 'peer1-org1',
      peers: ['peer0-org1', 'peer0-org2'],
    });
    expect((await supervisedNodes(dir))['peer1-org1']).toBeUndefined();
  }, 120_000);

  it('records an update whose answer was lost after the network committed it', async () => {
    const gateway = await fakeGateway('lose-answer');
    const progress: string[] = [];
    const r = await reconfigurer(progress);
    const current = await currentConfig(r, await latest());
    try {
      const { config } = await submitChanges(r, current, nudge(current), { gateways: [gateway.entry] });
      expect(config.sequence).toBe(current.sequence + 1);
    } finally {
      await closeServer(gateway.server);
    }
    expect(gateway.calls()).toBe(1);
    expect(progress.join('\n')).toMatch(
      /fake-lose-answer did not answer .* but the update is in block \d+ \(VALID\)/,
    );
    expect((await latest()).sequence).toBe(current.sequence + 1);
    expect(await sequenceInForce()).toBe(current.sequence + 1);
  }, 120_000);

  it("completes a crashed command's update from its write-ahead record, and forgets one overtaken", async () => {
    const r = await reconfigurer([]);
    const current = await currentConfig(r, await latest());
    const envelopeFor = async (changes: ConfigChange[]) => {
      let proposal = draftProposal(current, changes);
      const admins = await localAdmins(dir, current);
      for (const admin of admins) proposal = addApproval(proposal, admin);
      return assembleEnvelope(proposal, current, admins[0]!);
    };
    const committed = await envelopeFor(nudge(current));
    const overtaken = await envelopeFor([
      { op: 'set-consensus', params: { batchTimeoutMs: current.consensus.batchTimeoutMs + 2 } },
    ]);
    // What a command writes before sending; then it "crashes" after the network committed one.
    await writePendingUpdate(dir, committed);
    await writePendingUpdate(dir, overtaken);
    const peer = current.peers[0]!;
    const client = await clientOf(peer);
    try {
      expect((await client.submitEnvelope(committed)).validation).toBe('VALID');
    } finally {
      client.close();
    }
    expect((await latest()).sequence).toBe(current.sequence);

    // The next command that reads the configuration records it instead of failing.
    const show = await chainnode('config', 'show', '--json');
    expect(show.stderr).not.toContain('stops at');
    expect(show.code).toBe(0);
    expect(show.stderr).toContain(`recorded configuration sequence ${current.sequence + 1}`);
    expect((JSON.parse(show.stdout) as NetworkConfig).sequence).toBe(current.sequence + 1);
    const recorded = await latest();
    expect(recorded.sequence).toBe(current.sequence + 1);
    expect(recorded.consensus.batchTimeoutMs).toBe(current.consensus.batchTimeoutMs + 1);
    expect(await readdir(pendingUpdatesDir(dir))).toEqual([]);
  }, 120_000);

  it('rotates the key of a running node that does not answer: the supervisor restarts it with the new key', async () => {
    const config = await latest();
    const peer = config.peers.find((p) => p.name === 'peer0-org2')!;
    const pid = (await supervisedNodes(dir))['peer0-org2']?.pid;
    expect(typeof pid).toBe('number');
    // Busy beyond any status timeout, but running: its key must not change under it.
    process.kill(pid!, 'SIGSTOP');
    paused.add(pid!);
    const rotate = await chainnode('node', 'rotate', '--new-key', 'peer0-org2', '--json');
    expect(rotate.stderr).toContain('peer0-org2: stopping it to load the new key');
    expect(rotate.stderr).toContain('peer0-org2: restarting with the new key');
    expect(rotate.code).toBe(0);
    expect(JSON.parse(rotate.stdout)).toMatchObject({ rotated: ['peer0-org2'], newKey: true });
    const now = (await supervisedNodes(dir))['peer0-org2'];
    expect(now?.state).toBe('running');
    expect(now?.pid).not.toBe(pid);
    // It presents the certificate of its new key on its node port.
    const renewed = (await latest()).peers.find((p) => p.name === 'peer0-org2')!;
    expect(renewed.cert).not.toBe(peer.cert);
    expect(await readFile(join(nodeDir(dir, renewed, 'peer'), 'cert.pem'), 'utf8')).toBe(renewed.cert);
    expect(await presentedFingerprint(renewed.host, renewed.port, await identity('org1', 'admin'))).toBe(
      fingerprintOf(renewed.cert),
    );
  }, 180_000);

  it('names the refusal of an unknown node before touching the network', async () => {
    const remove = await chainnode('node', 'remove', 'orderer9');
    expect(remove.code).toBe(1);
    expect(remove.stderr).toContain('no node named "orderer9"');
    expect(remove.stderr).toContain('[LOCAL_BAD_REQUEST]');
  });
});
