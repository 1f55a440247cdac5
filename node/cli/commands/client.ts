import type { ConsensusMetrics } from '../../consensus/index.js';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { STATUS_TIMEOUT_MS, withTimeout } from '../../local/wait.js';
import { ClientError, type ChainnodeClient } from '../../sdk/index.js';
import { cliContext, type CliContext } from '../context.js';
import { printJson, table } from '../output.js';

/** A node that has not answered /status in this time is shown as down. */
export { STATUS_TIMEOUT_MS };

export interface NodeStatusRow {
  name: string;
  role: string;
  /** An orderer that is connected and fetching blocks but not voting yet (config `learner`). */
  learner: boolean;
  /** Orderers: what the node itself reports (voting, learner, not-member); null for peers or when down. */
  membership: string | null;
  org: string;
  height: number | null;
  headHash: string | null;
  leader: boolean;
  healthy: boolean;
  view: number | null;
  /** Orderers: the consensus core's metrics (lastViewChange and its reason, fetches, rejected messages). */
  consensus: ConsensusMetrics | null;
  /** Members this node has a link up with. */
  linkedPeers: number;
  api: string;
  explorer: string;
  error?: string;
}

/** Every node's status, asked in parallel; an unreachable node is a row with healthy=false. */
export async function networkStatus(ctx: CliContext): Promise<NodeStatusRow[]> {
  return Promise.all(
    ctx.nodes().map(async (n): Promise<NodeStatusRow> => {
      const api = `https://${n.host}:${String(n.apiPort)}`;
      const base = {
        name: n.name,
        role: ctx.network.config.orderers.includes(n) ? 'orderer' : 'peer',
        learner: (n as { learner?: true }).learner === true,
        org: n.org,
        api,
        explorer: `${api}/explorer`,
      };
      try {
        const client = await ctx.client(n.name);
        const s = (await withTimeout(client.status(), STATUS_TIMEOUT_MS, `${n.name} /status`)) as {
          height: number;
          headHash: string;
          leader: boolean | null;
          view: number | null;
          consensus?: ConsensusMetrics | null;
          connectedPeers: string[];
          membership?: string | null;
        };
        return {
          ...base,
          height: s.height,
          headHash: s.headHash,
          leader: s.leader === true,
          healthy: true,
          view: s.view,
          consensus: s.consensus ?? null,
          membership: s.membership ?? null,
          linkedPeers: s.connectedPeers.length,
        };
      } catch (e) {
        return {
          ...base,
          height: null,
          headHash: null,
          leader: false,
          healthy: false,
          view: null,
          consensus: null,
          membership: null,
          linkedPeers: 0,
          error: (e as Error).message,
        };
      }
    }),
  );
}

export function statusTable(rows: readonly NodeStatusRow[]): string {
  return table(
    ['node', 'role', 'org', 'height', 'head', 'leader', 'healthy', 'api'],
    rows.map((r) => [
      r.name,
      r.learner || r.membership === 'learner' ? `${r.role} (learner)` : r.role,
      r.org,
      r.height ?? '-',
      r.headHash?.slice(0, 12) ?? '-',
      r.leader ? 'yes' : '',
      r.healthy ? 'yes' : 'DOWN',
      r.api,
    ]),
  );
}

function describeOutcome(o: { txId: string; validation: string; height: number; result: string }): string {
  return `${o.validation === 'VALID' ? 'committed' : 'committed as INVALID'} (${o.validation}) in block ${o.height}, txId ${o.txId}${o.result === '' ? '' : `\nresult: ${o.result}`}\n`;
}

async function clientFor(cmd: Command, node: string | undefined): Promise<ChainnodeClient> {
  return (await cliContext(cmd)).client(node);
}

export function registerClientCommands(program: Command): void {
  program
    .command('status')
    .description('every node of the network: role, org, height, leader, health')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const rows = await networkStatus(await cliContext(cmd));
      if (opts.json === true) printJson(rows);
      else process.stdout.write(`${statusTable(rows)}\n`);
      if (rows.every((r) => !r.healthy)) process.exitCode = 1;
    });

  const contract = program.command('contract').description('deploy and upgrade smart contracts');
  contract
    .command('deploy')
    .description('deploy (or upgrade) a contract from a JavaScript module file')
    .argument('<name>', 'contract name')
    .argument('<file>', 'the contract source (an ES module exporting functions)')
    .option('--version <v>', 'contract version (must change on upgrade)', '1')
    .option('--policy <json>', 'endorsement policy, e.g. \'{"and":[{"org":"org1"},{"org":"org2"}]}\'')
    .option('--node <name>', 'peer to use as gateway')
    .option('--json', 'print JSON')
    .action(
      async (
        name: string,
        file: string,
        opts: { version: string; policy?: string; node?: string; json?: boolean },
        cmd: Command,
      ) => {
        const code = await readFile(file, 'utf8').catch((e: unknown) => {
          throw new Error(`cannot read ${file}: ${(e as Error).message}`);
        });
        let policy: unknown;
        if (opts.policy !== undefined) {
          try {
            policy = JSON.parse(opts.policy) as unknown;
          } catch {
            throw new Error(`--policy is not JSON: ${opts.policy}`);
          }
        }
        const client = await clientFor(cmd, opts.node);
        const outcome = await client.deploy(name, code, {
          version: opts.version,
          ...(policy === undefined ? {} : { endorsementPolicy: policy }),
        });
        if (opts.json === true) printJson(outcome);
        else process.stdout.write(`contract ${name} ${opts.version}: ${describeOutcome(outcome)}`);
        if (outcome.validation !== 'VALID') process.exitCode = 1;
      },
    );

  program
    .command('invoke')
    .description('submit a transaction: endorse, order, validate, wait for the result')
    .argument('<contract>')
    .argument('<fn>')
    .argument('[args...]')
    .option('--node <name>', 'peer to use as gateway')
    .option('--timeout <ms>', 'how long to wait for commit', '30000')
    .option('--json', 'print JSON')
    .action(
      async (
        contractName: string,
        fn: string,
        args: string[],
        opts: { node?: string; timeout: string; json?: boolean },
        cmd: Command,
      ) => {
        const client = await clientFor(cmd, opts.node);
        const outcome = await client.submit(
          { contract: contractName, fn, args },
          { timeoutMs: Number(opts.timeout) },
        );
        if (opts.json === true) printJson(outcome);
        else process.stdout.write(describeOutcome(outcome));
        if (outcome.validation !== 'VALID') process.exitCode = 1;
      },
    );

  program
    .command('query')
    .description('evaluate a read-only contract function on one peer')
    .argument('<contract>')
    .argument('<fn>')
    .argument('[args...]')
    .option('--node <name>', 'peer to ask')
    .option('--json', 'print JSON')
    .action(
      async (
        contractName: string,
        fn: string,
        args: string[],
        opts: { node?: string; json?: boolean },
        cmd: Command,
      ) => {
        const result = await (await clientFor(cmd, opts.node)).evaluate({ contract: contractName, fn, args });
        if (opts.json === true) printJson({ result });
        else process.stdout.write(`${result}\n`);
      },
    );

  program
    .command('block')
    .description('show a block by height, hash or "latest"')
    .argument('<id>', 'height, hash or latest')
    .option('--node <name>', 'node to ask')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { node?: string; json?: boolean }, cmd: Command) => {
      const block = (await (await clientFor(cmd, opts.node)).block(id)) as {
        hash: string;
        header: {
          height: number;
          prevHash: string;
          dataHash: string;
          timestampMs: number;
          proposer: string;
          txCount: number;
        };
        transactions: { txId: string; contract?: string; fn?: string; creator: string; validation: string }[];
        commitCertificate: { view: number; signatures: { signer: string }[] } | null;
      };
      if (opts.json === true) {
        printJson(block);
        return;
      }
      const h = block.header;
      process.stdout.write(
        `block ${h.height}  hash ${block.hash}\n  previous ${h.prevHash}\n  merkle   ${h.dataHash}\n` +
          `  created  ${new Date(h.timestampMs).toISOString()} by ${h.proposer}; certified in view ${block.commitCertificate?.view ?? '-'} by ${block.commitCertificate?.signatures.map((s) => s.signer).join(', ') ?? '(genesis)'}\n` +
          `${table(
            ['#', 'txId', 'call', 'creator', 'validation'],
            block.transactions.map((t, i) => [
              i,
              t.txId.slice(0, 16),
              t.contract === undefined ? 'config' : `${t.contract}.${t.fn ?? ''}`,
              t.creator,
              t.validation,
            ]),
          )}\n`,
      );
    });

  program
    .command('blocks')
    .description('follow blocks')
    .command('tail')
    .description('print blocks as they are committed (Ctrl-C to stop)')
    .option('--node <name>', 'node to follow')
    .option('--count <n>', 'stop after this many blocks')
    .option('--json', 'print each block event as a JSON line')
    .action(async (opts: { node?: string; count?: string; json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd, opts.node);
      const abort = new AbortController();
      process.once('SIGINT', () => {
        abort.abort();
      });
      let seen = 0;
      try {
        for await (const { event, data } of client.events(abort.signal)) {
          if (event !== 'block') continue;
          const b = data as {
            height: number;
            txCount: number;
            transactions: { txId: string; validation: string }[];
          };
          if (opts.json === true) process.stdout.write(`${JSON.stringify(b)}\n`);
          else {
            const valid = b.transactions.filter((t) => t.validation === 'VALID').length;
            process.stdout.write(`block ${b.height}: ${b.txCount} transactions, ${valid} valid\n`);
          }
          seen += 1;
          if (opts.count !== undefined && seen >= Number(opts.count)) break;
        }
      } catch (e) {
        if (!abort.signal.aborted) throw e;
      }
    });
}

/** `chainnode node stop <name>`: the sketch's `stop`, through the admin API. */
export function registerNodeStop(node: Command): void {
  node
    .command('stop')
    .description('stop a node cleanly (needs an admin identity)')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const client = await clientFor(cmd, name);
      try {
        await client.stopNode();
      } catch (e) {
        if (e instanceof ClientError && e.status === 403) throw new Error(`${name} refused: ${e.message}`);
        throw e;
      }
      process.stdout.write(`${name} is stopping\n`);
    });
}
