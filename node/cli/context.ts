import type { Command } from 'commander';
import { loadLatestConfig, loadNetworkDir, readUserIdentity, type LoadedNetwork } from '../config/index.js';
import type { NetworkConfig, NodeEntry } from '../protocol/index.js';
import { ChainnodeClient } from '../sdk/index.js';
import { resolveNetworkDir } from './network-dir.js';

export interface CliContext {
  readonly dir: string;
  /** network.yaml, with `config` the newest configuration the directory knows (genesis + config-updates/). */
  readonly network: LoadedNetwork;
  readonly identity: { org: string; role: string };
  /** The identity's certificate and key, to sign with. */
  readonly user: { certPem: string; keyPem: string };
  /** A client for `node`, or for the default peer of the identity's organisation. */
  client(node?: string): Promise<ChainnodeClient>;
  /** A client for any node entry (one not in the directory's configuration yet, say), trusting `config`'s CAs. */
  clientFor(entry: Pick<NodeEntry, 'host' | 'apiPort'>, config?: NetworkConfig): ChainnodeClient;
  nodes(): NodeEntry[];
}

/**
 * What every command that talks to a network needs: its directory (--dir, CHAINNODE_DIR,
 * ./.chainnode), its configuration, and an identity (--identity org/role, default the first
 * organisation's admin) to sign and authenticate with.
 */
export async function cliContext(cmd: Command): Promise<CliContext> {
  const globals = cmd.optsWithGlobals<{ dir?: string; identity?: string }>();
  const dir = resolveNetworkDir(globals.dir);
  const genesis = await loadNetworkDir(dir);
  // Nodes added or removed by config transactions since genesis are in config-updates/.
  const network: LoadedNetwork = { ...genesis, config: await loadLatestConfig(dir, genesis.config) };
  const [org, role] = (globals.identity ?? `${network.config.orgs[0]?.name ?? 'org1'}/admin`).split('/');
  if (org === undefined || role === undefined || !['admin', 'client'].includes(role)) {
    throw new Error(`--identity must be <org>/<admin|client>, got "${globals.identity ?? ''}"`);
  }
  const user = await readUserIdentity(dir, org, role);
  const nodes = (): NodeEntry[] => [...network.config.orderers, ...network.config.peers];
  const clientFor = (entry: Pick<NodeEntry, 'host' | 'apiPort'>, config = network.config): ChainnodeClient =>
    ChainnodeClient.connect({
      url: `https://${entry.host}:${String(entry.apiPort)}`,
      certPem: user.certPem,
      keyPem: user.keyPem,
      caCerts: config.orgs.flatMap((o) => o.caCerts),
    });
  return {
    dir,
    network,
    identity: { org, role },
    user,
    nodes,
    clientFor,
    client: (name?: string) => {
      const entry =
        name === undefined
          ? (network.config.peers.find((p) => p.org === org) ?? network.config.peers[0])
          : nodes().find((n) => n.name === name);
      if (entry === undefined) {
        return Promise.reject(
          new Error(
            name === undefined
              ? 'the network has no peer'
              : `no node named ${name} (known: ${nodes()
                  .map((n) => n.name)
                  .join(', ')})`,
          ),
        );
      }
      return Promise.resolve(clientFor(entry));
    },
  };
}
