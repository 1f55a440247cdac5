import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NetworkMaterial } from '../network/index.js';
import {
  envelopeSchema,
  parseWith,
  ProtocolError,
  type Envelope,
  type NetworkConfig,
  type NodeEntry,
} from '../protocol/index.js';
import { ConfigError } from './errors.js';
import { loadNetworkFile, renderNetworkFile, type LoadedNetwork } from './network-file.js';
import { configProblems } from './validate.js';

/*
 * A network directory, as `chainnode network init` writes it (Fabric's crypto-config shape):
 *
 *   network.yaml                          signed genesis configuration (public)
 *   orgs/<org>/ca/{cert.pem,key.pem}      the organisation's CA
 *   orgs/<org>/<orderers|peers>/<name>/{cert.pem,key.pem}
 *   orgs/<org>/users/<role>/{cert.pem,key.pem}   admin and client identities
 *   config-updates/<sequence>.json        committed config transactions since genesis (public)
 *
 * Private keys are written 0600 and never printed.
 */

export const NETWORK_FILE = 'network.yaml';
const KEY_MODE = 0o600;
const DIR_MODE = 0o755;
const PRIVATE_DIR_MODE = 0o700;

export function caDir(dir: string, org: string): string {
  return join(dir, 'orgs', org, 'ca');
}

export function nodeDir(
  dir: string,
  node: Pick<NodeEntry, 'org' | 'name'>,
  role: 'orderer' | 'peer',
): string {
  return join(dir, 'orgs', node.org, role === 'orderer' ? 'orderers' : 'peers', node.name);
}

export function userDir(dir: string, org: string, role: string): string {
  return join(dir, 'orgs', org, 'users', role);
}

async function writeIdentity(path: string, certPem: string, keyPem: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: PRIVATE_DIR_MODE });
  await writeFile(join(path, 'cert.pem'), certPem, { mode: 0o644 });
  await writeFile(join(path, 'key.pem'), keyPem, { mode: KEY_MODE, flag: 'wx' });
  // The umask may have loosened the mode given to writeFile; make sure.
  await chmod(join(path, 'key.pem'), KEY_MODE);
}

/** Writes generated material into `dir`, refusing to overwrite an existing network. */
export async function writeNetworkDir(dir: string, material: NetworkMaterial): Promise<string> {
  const file = join(dir, NETWORK_FILE);
  if (existsSync(file))
    throw new ConfigError('CONFIG_EXISTS', `${file} already exists; choose another --out or remove it`);
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  for (const ca of material.cas) await writeIdentity(caDir(dir, ca.org), ca.certPem, ca.keyPem);
  for (const n of [...material.orderers, ...material.peers])
    await writeIdentity(nodeDir(dir, n.entry, n.role), n.entry.cert, n.keyPem);
  for (const u of material.users) await writeIdentity(userDir(dir, u.org, u.role), u.certPem, u.keyPem);
  await writeFile(file, renderNetworkFile(material.genesis), { mode: 0o644 });
  return file;
}

export interface NodeIdentityFiles {
  readonly entry: NodeEntry;
  readonly role: 'orderer' | 'peer';
  readonly keyPem: string;
}

/** Finds `name` in the configuration and reads its private key from the network directory. */
export async function readNodeIdentity(
  dir: string,
  config: NetworkConfig,
  name: string,
): Promise<NodeIdentityFiles> {
  const orderer = config.orderers.find((o) => o.name === name);
  const peer = config.peers.find((p) => p.name === name);
  const entry = orderer ?? peer;
  if (entry === undefined) {
    const known = [...config.orderers, ...config.peers].map((n) => n.name).join(', ');
    throw new ConfigError(
      'CONFIG_INVALID',
      `node "${name}" is not in the network configuration (known: ${known})`,
    );
  }
  const role = orderer !== undefined ? 'orderer' : 'peer';
  const keyPath = join(nodeDir(dir, entry, role), 'key.pem');
  try {
    return { entry, role, keyPem: await readFile(keyPath, 'utf8') };
  } catch (cause) {
    throw new ConfigError('CONFIG_READ', `cannot read the private key of ${name} at ${keyPath}`, [], {
      cause,
    });
  }
}

export async function readUserIdentity(
  dir: string,
  org: string,
  role: string,
): Promise<{ certPem: string; keyPem: string }> {
  const path = userDir(dir, org, role);
  try {
    return {
      certPem: await readFile(join(path, 'cert.pem'), 'utf8'),
      keyPem: await readFile(join(path, 'key.pem'), 'utf8'),
    };
  } catch (cause) {
    throw new ConfigError('CONFIG_READ', `cannot read the ${role} identity of ${org} in ${path}`, [], {
      cause,
    });
  }
}

export function loadNetworkDir(dir: string): Promise<LoadedNetwork> {
  return loadNetworkFile(join(dir, NETWORK_FILE));
}

export const CONFIG_UPDATES_DIR = 'config-updates';
const UPDATE_FILE = /^(\d{6,})\.json$/;

function updateFileName(sequence: number): string {
  return `${String(sequence).padStart(6, '0')}.json`;
}

/**
 * Records a committed config transaction next to network.yaml, so a node started later (one
 * just added, which genesis does not name) knows the current members before it has the chain.
 * Written to a temporary name and renamed, so a reader never sees half a file.
 */
export async function writeConfigUpdate(dir: string, envelope: Envelope): Promise<string> {
  if (envelope.payload.type !== 'config') throw new ConfigError('CONFIG_INVALID', 'not a config transaction');
  const updates = join(dir, CONFIG_UPDATES_DIR);
  await mkdir(updates, { recursive: true, mode: DIR_MODE });
  const file = join(updates, updateFileName(envelope.payload.config.sequence));
  await writeFile(`${file}.tmp`, `${JSON.stringify(envelope, null, 2)}\n`, { mode: 0o644 });
  await rename(`${file}.tmp`, file);
  return file;
}

/**
 * The newest configuration the network directory knows: genesis, then each recorded update in
 * sequence order. A bootstrap hint for the transport and the node's own entry; the node checks
 * every update again (approvals, certificates) when it reaches it in the chain, and the chain
 * wins. Updates must chain: sequence 1, 2, ... with no gap, all of this network.
 */
export async function loadLatestConfig(
  dir: string,
  genesis: NetworkConfig,
  at = new Date(),
): Promise<NetworkConfig> {
  const updatesDir = join(dir, CONFIG_UPDATES_DIR);
  const files = (existsSync(updatesDir) ? await readdir(updatesDir) : [])
    .map((name) => ({ name, match: UPDATE_FILE.exec(name) }))
    .filter((f): f is { name: string; match: RegExpExecArray } => f.match !== null)
    .map((f) => ({ name: f.name, sequence: Number(f.match[1]) }))
    .sort((a, b) => a.sequence - b.sequence);
  let config = genesis;
  for (const file of files) {
    const path = join(updatesDir, file.name);
    if (file.sequence <= genesis.sequence) continue;
    let envelope: Envelope;
    try {
      envelope = parseWith(envelopeSchema, JSON.parse(await readFile(path, 'utf8')) as unknown, 'update');
    } catch (cause) {
      if (!(cause instanceof ProtocolError) && !(cause instanceof SyntaxError)) throw cause;
      throw new ConfigError('CONFIG_SCHEMA', `${path}: ${cause.message}`, [], { cause });
    }
    const payload = envelope.payload;
    if (payload.type !== 'config')
      throw new ConfigError('CONFIG_INVALID', `${path} is not a config transaction`);
    if (payload.config.sequence !== config.sequence + 1 || payload.config.sequence !== file.sequence) {
      throw new ConfigError(
        'CONFIG_INVALID',
        `${path} holds sequence ${payload.config.sequence}; after sequence ${config.sequence} the next update must be ${config.sequence + 1}`,
      );
    }
    if (payload.config.networkId !== config.networkId)
      throw new ConfigError(
        'CONFIG_INVALID',
        `${path} is an update of network "${payload.config.networkId}"`,
      );
    config = payload.config;
  }
  const problems = configProblems(config, at);
  if (problems.length > 0)
    throw new ConfigError(
      'CONFIG_INVALID',
      `the configuration at sequence ${config.sequence} is not valid now`,
      problems,
    );
  return config;
}
