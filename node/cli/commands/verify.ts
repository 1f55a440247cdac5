import type { Command } from 'commander';
import { loadLatestConfig, loadNetworkDir } from '../../config/index.js';
import { ChainStore, nodeSchema, openDatabase } from '../../ledger/index.js';
import { readLocalState } from '../../local/state.js';
import { resolveNetworkDir } from '../network-dir.js';
import { printJson, progressBar } from '../output.js';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description("recompute every block hash, link, Merkle root and commit certificate of a node's chain")
    .option('--node <name>', 'the node whose database to check (default: every node of the network)')
    .option('--schema <schema>', 'check this PostgreSQL schema instead of a node')
    .option('--database-url <url>', 'PostgreSQL to use instead of the embedded one (or DATABASE_URL)')
    .option('--json', 'print the reports as JSON')
    .action(
      async (
        opts: { node?: string; schema?: string; databaseUrl?: string; json?: boolean },
        cmd: Command,
      ) => {
        const dir = resolveNetworkDir(cmd.optsWithGlobals<{ dir?: string }>().dir);
        let schemas: string[];
        if (opts.schema !== undefined) schemas = [opts.schema];
        else if (opts.node !== undefined) schemas = [nodeSchema(opts.node)];
        else {
          // Every member now, including nodes added by configuration updates since genesis.
          const network = await loadNetworkDir(dir);
          const config = await loadLatestConfig(dir, network.config);
          schemas = [...config.orderers, ...config.peers].map((n) => nodeSchema(n.name));
        }
        // A running local network owns its embedded server: use it rather than start a second one.
        const running = await readLocalState(dir);
        const database = await openDatabase({ dir, databaseUrl: opts.databaseUrl ?? running?.databaseUrl });
        const reports = [];
        try {
          for (const schema of schemas) {
            const store = await ChainStore.open({ connectionString: database.url, schema });
            try {
              const head = await store.head();
              const bar = progressBar(
                `verify ${schema}`,
                (head?.height ?? 0) + 1,
                process.stderr.isTTY && opts.json !== true,
              );
              reports.push({
                schema,
                ...(await store.verify((h) => {
                  bar.update(h + 1);
                })),
              });
              bar.stop();
            } finally {
              await store.close();
            }
          }
        } finally {
          await database.stop();
        }
        if (opts.json === true) printJson(reports);
        else {
          for (const r of reports) {
            process.stdout.write(
              r.ok
                ? `${r.schema}: ok, ${r.blocks} blocks, ${r.transactions} transactions, head ${r.headHash ?? '-'}\n`
                : `${r.schema}: FAILED at block ${r.height}: ${r.problem}\n`,
            );
          }
        }
        if (reports.some((r) => !r.ok)) process.exitCode = 1;
      },
    );
}
