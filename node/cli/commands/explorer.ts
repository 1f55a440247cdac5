import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from 'commander';
import { caDir, userDir } from '../../config/index.js';
import { cliContext } from '../context.js';
import { printJson } from '../output.js';
import { STATUS_TIMEOUT_MS } from './client.js';

/**
 * `chainnode explorer`: the URL of the explorer page a node of the local network serves (the
 * default peer of the identity's org, or --node), and with --open a browser on it. The page
 * asks for the same client certificate as the API, so it also says which one to import.
 */
export function registerExplorer(program: Command): void {
  program
    .command('explorer')
    .description("print the URL of a node's explorer page (--open: open it in a browser)")
    .option('--node <name>', 'node whose explorer to use (default: a peer of your org)')
    .option('--open', 'open the URL with xdg-open')
    .option('--json', 'print JSON')
    .action(async (opts: { node?: string; open?: boolean; json?: boolean }, cmd: Command) => {
      const ctx = await cliContext(cmd);
      const client = await ctx.client(opts.node);
      const entry =
        opts.node === undefined
          ? (ctx.network.config.peers.find((p) => p.org === ctx.identity.org) ?? ctx.network.config.peers[0])
          : ctx.nodes().find((n) => n.name === opts.node);
      if (entry === undefined) throw new Error('the network has no peer');
      const url = `https://${entry.host}:${String(entry.apiPort)}/explorer`;
      const user = userDir(ctx.dir, ctx.identity.org, ctx.identity.role);
      const certificate = { cert: join(user, 'cert.pem'), key: join(user, 'key.pem') };
      const ca = join(caDir(ctx.dir, entry.org), 'cert.pem');
      const reachable = await Promise.race([
        client.status().then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((resolve) => {
          setTimeout(() => {
            resolve(false);
          }, STATUS_TIMEOUT_MS).unref();
        }),
      ]);
      if (opts.json === true) {
        printJson({ node: entry.name, explorer: url, reachable, clientCertificate: certificate, ca });
      } else {
        process.stdout.write(`${url}\n`);
        process.stderr.write(
          (reachable ? '' : `warning: ${entry.name} did not answer; is the network up (chainnode up)?\n`) +
            `The page needs the client certificate ${certificate.cert} (key ${certificate.key}) in your browser,\n` +
            `e.g. openssl pkcs12 -export -in ${certificate.cert} -inkey ${certificate.key} -out chainnode.p12,\n` +
            `and trusts the node through ${ca}.\n`,
        );
      }
      if (opts.open === true) {
        await new Promise<void>((resolve) => {
          const child = spawn('xdg-open', [url], { detached: true, stdio: 'ignore' });
          child.once('error', (e) => {
            process.stderr.write(`cannot open a browser (xdg-open: ${e.message}); open ${url} yourself\n`);
            resolve();
          });
          child.once('spawn', () => {
            child.unref();
            resolve();
          });
        });
      }
    });
}
