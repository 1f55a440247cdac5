import type { Command } from 'commander';
import { writeNetworkDir } from '../../config/index.js';
import {
  DEFAULT_BASE_PORT,
  DEFAULT_HOST,
  localAddresses,
  DEFAULT_ORDERERS,
  DEFAULT_ORGS,
  DEFAULT_PEERS_PER_ORG,
  DEFAULT_VALIDITY_DAYS,
  generateNetwork,
} from '../../network/index.js';
import { faultTolerance, formatPolicy } from '../../protocol/index.js';
import { resolveNetworkDir } from '../network-dir.js';
import { printJson, table } from '../output.js';
import { integerOption } from '../parse.js';

export function registerNetworkInit(network: Command): void {
  network
    .command('init')
    .description('generate CAs, node and user certificates and the signed network configuration')
    .option(
      '--orderers <n>',
      'orderers (n = 3f + 1 tolerates f faults)',
      integerOption(1, 64),
      DEFAULT_ORDERERS,
    )
    .option(
      '--orgs <n>',
      'organisations, each with a CA, an admin and a client',
      integerOption(1, 64),
      DEFAULT_ORGS,
    )
    .option('--peers-per-org <n>', 'peers per organisation', integerOption(0, 64), DEFAULT_PEERS_PER_ORG)
    .option('--network-id <id>', 'network name', 'chainnode')
    .option('--validity-days <days>', 'certificate lifetime', integerOption(1, 3650), DEFAULT_VALIDITY_DAYS)
    .option('--host <host>', 'address every node listens on (a 127.x.y.z or a DNS name)', DEFAULT_HOST)
    .option(
      '--base-port <port>',
      'first orderer port; peers start 100 above, APIs 1000 above',
      integerOption(1, 63_000),
      DEFAULT_BASE_PORT,
    )
    .option('--out <dir>', 'directory to write (default: --dir, $CHAINNODE_DIR or ./.chainnode)')
    .option('--json', 'print a JSON summary')
    .action(
      async (
        opts: {
          orderers: number;
          orgs: number;
          peersPerOrg: number;
          networkId: string;
          validityDays: number;
          out?: string;
          json?: boolean;
          host: string;
          basePort: number;
        },
        cmd: Command,
      ) => {
        const dir = resolveNetworkDir(opts.out ?? cmd.optsWithGlobals<{ dir?: string }>().dir);
        const material = await generateNetwork({
          orderers: opts.orderers,
          orgs: opts.orgs,
          peersPerOrg: opts.peersPerOrg,
          networkId: opts.networkId,
          validityDays: opts.validityDays,
          address: localAddresses(opts.host, opts.basePort),
        });
        const file = await writeNetworkDir(dir, material);
        const nodes = [...material.orderers, ...material.peers].map((n) => ({
          name: n.entry.name,
          role: n.role,
          org: n.entry.org,
          address: `${n.entry.host}:${n.entry.port}`,
          api: `${n.entry.host}:${n.entry.apiPort}`,
        }));
        if (opts.json === true) {
          printJson({ dir, networkFile: file, networkId: material.config.networkId, nodes });
          return;
        }
        const { config } = material;
        process.stdout.write(
          `Network "${config.networkId}" written to ${dir}\n` +
            `  ${config.orderers.length} orderers (tolerates ${faultTolerance(config.orderers.length)} faulty), ` +
            `${config.orgs.length} orgs, ${config.peers.length} peers; endorsement ${formatPolicy(config.policies.endorsement)}\n` +
            `${table(
              ['node', 'role', 'org', 'address', 'api'],
              nodes.map((n) => [n.name, n.role, n.org, n.address, n.api]),
            )}\n` +
            `Private keys are in ${dir}/orgs/*/**/key.pem (mode 0600). Configuration: ${file}\n`,
        );
      },
    );
}
