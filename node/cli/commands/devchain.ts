import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import {
  loadNetworkDir,
  NETWORK_FILE,
  readNodeIdentity,
  readUserIdentity,
  writeNetworkDir,
} from '../../config/index.js';
import { SigningKey } from '../../crypto/index.js';
import { ChainStore, nodeSchema, openDatabase } from '../../ledger/index.js';
import { generateNetwork } from '../../network/index.js';
import { ValidationCode } from '../../protocol/index.js';
import { certifyLocally, sampleTrade, tradeEnvelope, type Signer, type Trade } from '../../workload/index.js';
import { resolveNetworkDir } from '../network-dir.js';
import { progressBar, sketchBlockJson } from '../output.js';
import { integerOption } from '../parse.js';

/**
 * The sketch's blockchaintest on the real stack: a one-orderer development chain in
 * PostgreSQL, with trades recorded in signed, certified blocks, then the latest block printed
 * and the whole chain verified. Run it again and the same chain continues.
 */
export function registerDevchain(program: Command): void {
  program
    .command('devchain')
    .description(
      'record trades on a one-orderer development chain and print the latest block (no network: one process, one orderer key)',
    )
    .option('--blocks <n>', 'blocks to add this run', integerOption(1, 100_000), 10)
    .option('--trades-per-block <n>', 'trades per block', integerOption(1, 10_000), 10)
    .option('--database-url <url>', 'PostgreSQL to use instead of the embedded one (or DATABASE_URL)')
    .option('--schema <schema>', 'PostgreSQL schema of the development chain', nodeSchema('devchain'))
    .action(
      async (
        opts: { blocks: number; tradesPerBlock: number; databaseUrl?: string; schema: string },
        cmd: Command,
      ) => {
        const dir = join(resolveNetworkDir(cmd.optsWithGlobals<{ dir?: string }>().dir), 'devchain');
        if (!existsSync(join(dir, NETWORK_FILE))) {
          process.stdout.write(`Creating a development network (1 orderer, 1 org, 1 peer) in ${dir}\n`);
          await writeNetworkDir(
            dir,
            await generateNetwork({ orderers: 1, orgs: 1, peersPerOrg: 1, networkId: 'devchain' }),
          );
        }
        const network = await loadNetworkDir(dir);
        const ordererFiles = await readNodeIdentity(dir, network.config, 'orderer0');
        const peer = network.config.peers[0];
        if (peer === undefined) throw new Error(`${dir} has no peer to endorse trades`);
        const peerFiles = await readNodeIdentity(dir, network.config, peer.name);
        const clientFiles = await readUserIdentity(dir, peer.org, 'client');
        const client: Signer = {
          identity: { org: peer.org, cert: clientFiles.certPem },
          key: SigningKey.fromPem(clientFiles.keyPem),
        };
        const endorser: Signer = {
          identity: { org: peer.org, cert: peer.cert },
          key: SigningKey.fromPem(peerFiles.keyPem),
        };
        const orderer = { name: ordererFiles.entry.name, key: SigningKey.fromPem(ordererFiles.keyPem) };

        const database = await openDatabase({ dir, databaseUrl: opts.databaseUrl });
        const store = await ChainStore.open({ connectionString: database.url, schema: opts.schema });
        try {
          const started = process.hrtime.bigint();
          let head = await store.head();
          if (head === null) {
            head = await store.appendBlock({
              block: network.genesis,
              validationCodes: [ValidationCode.VALID],
              commitCertificate: null,
            });
          } else {
            const genesis = await store.getBlock(0);
            if (genesis?.hash !== network.genesisHash) {
              throw new Error(
                `the database holds the chain of another network (genesis ${genesis?.hash ?? 'missing'})`,
              );
            }
          }
          const bar = progressBar('recording trades', opts.blocks);
          let tradeNo = head.height * opts.tradesPerBlock;
          for (let b = 0; b < opts.blocks; b++) {
            const txs = Array.from({ length: opts.tradesPerBlock }, () =>
              tradeEnvelope(client, [endorser], sampleTrade(tradeNo++)),
            );
            const { block, commitCertificate } = certifyLocally([orderer], head, txs, Date.now());
            head = await store.appendBlock({
              block,
              validationCodes: txs.map(() => ValidationCode.VALID),
              commitCertificate,
            });
            bar.update(b + 1);
          }
          bar.stop();
          const latest = await store.getBlock(head.height);
          if (latest === null) throw new Error(`block ${head.height} vanished`);
          const lastTx = latest.block.transactions.at(-1);
          const trade =
            lastTx?.payload.type === 'invoke'
              ? (JSON.parse(
                  Buffer.from(lastTx.payload.response.rwset.writes[0]?.value ?? '', 'base64').toString(),
                ) as Trade)
              : undefined;
          const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
          process.stdout.write(
            `Blocks loaded ${head.height + 1} from ${database.description}, schema ${store.schema} (max index=${head.height})\n` +
              `Time elapsed: ${(elapsedMs / 1000).toFixed(3)} s\n`,
          );
          const header = latest.block.header;
          const shown = sketchBlockJson(
            {
              hash: latest.hash,
              height: header.height,
              timestampMs: header.timestampMs,
              prevHash: header.prevHash,
            },
            trade,
            {
              merkleRoot: header.dataHash,
              transactions: header.txCount,
              certifiedBy: latest.commitCertificate?.signatures.map((s) => s.signer) ?? [],
            },
          );
          process.stdout.write(`${shown}\n`);
          const report = await store.verify();
          process.stdout.write(
            report.ok
              ? `verify: ok, ${report.blocks} blocks and ${report.transactions} transactions rechecked\n`
              : `verify: FAILED at block ${report.height}: ${report.problem}\n`,
          );
          if (!report.ok) process.exitCode = 1;
        } finally {
          await store.close();
          await database.stop();
        }
      },
    );
}
