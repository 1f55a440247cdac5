import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import {
  currentConfig,
  gatewaysFor,
  submitConfigEnvelope,
  type Gateway,
  type Reconfigurer,
} from '../../local/config-updates.js';
import { LocalError } from '../../local/errors.js';
import { formatPolicy, quorumSize, votingOrderers, type NetworkConfig } from '../../protocol/index.js';
import { POLICY_NAMES } from '../../config/index.js';
import {
  addApproval,
  approvingOrgs,
  assembleEnvelope,
  changesFromFlags,
  describeConfigDiff,
  draftProposal,
  existingApprovalProblems,
  ProposalError,
  readProposal,
  writeProposal,
  type ChangeFlags,
} from '../../sdk/index.js';
import { parseIdentity } from '../../../certs/index.js';
import { cliContext, type CliContext } from '../context.js';
import { printJson, table } from '../output.js';
import { integerOption } from '../parse.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** The configuration in force, from the nodes, or from the network directory with --local. */
async function inForce(
  ctx: CliContext,
  local: boolean | undefined,
): Promise<{ config: NetworkConfig; source: string }> {
  if (local === true)
    return { config: ctx.network.config, source: `${ctx.dir} (network.yaml + config-updates/)` };
  return {
    config: await currentConfig(reconfigurer(ctx), ctx.network.config),
    source: 'the running network',
  };
}

export function reconfigurer(ctx: CliContext, quiet = false): Reconfigurer {
  const start = Date.now();
  return {
    dir: ctx.dir,
    identity: ctx.identity,
    user: ctx.user,
    progress: (line) => {
      // Seconds since the command started: long steps (catch-up, promotion) show where time goes.
      const elapsed = ((Date.now() - start) / 1000).toFixed(1).padStart(5);
      if (!quiet) process.stderr.write(`[${elapsed}s] ${line}\n`);
    },
  };
}

function requireAdmin(ctx: CliContext, what: string): void {
  const id = parseIdentity(ctx.user.certPem);
  if (id.role !== 'admin') {
    throw new Error(
      `${what} needs an organisation admin; ${ctx.identity.org}/${ctx.identity.role} is a ${id.role} (use --identity <org>/admin)`,
    );
  }
}

/** The configuration as tables: organisations, orderers (voting or learner), peers, policies, consensus. */
export function configTables(config: NetworkConfig): string {
  const voters = votingOrderers(config.orderers);
  const lines = [
    `network ${config.networkId}, configuration sequence ${config.sequence}; ${voters.length} voting orderer(s), quorum ${voters.length > 0 ? quorumSize(voters.length) : '-'}`,
    table(
      ['organisation', 'CA certificates', 'orderers', 'peers'],
      config.orgs.map((o) => [
        o.name,
        o.caCerts.length,
        config.orderers.filter((n) => n.org === o.name).length,
        config.peers.filter((n) => n.org === o.name).length,
      ]),
    ),
    table(
      ['orderer', 'org', 'member', 'address', 'api', 'certificate until'],
      config.orderers.map((o) => [
        o.name,
        o.org,
        o.learner === true ? 'learner' : 'voting',
        `${o.host}:${o.port}`,
        o.apiPort,
        certUntil(o.cert),
      ]),
    ),
    table(
      ['peer', 'org', 'address', 'api', 'certificate until'],
      config.peers.map((p) => [p.name, p.org, `${p.host}:${p.port}`, p.apiPort, certUntil(p.cert)]),
    ),
    table(
      ['policy', 'rule'],
      POLICY_NAMES.map((name) => [name, formatPolicy(config.policies[name])]),
    ),
    table(
      ['consensus', 'value'],
      Object.entries(config.consensus).map(([k, v]) => [k, v]),
    ),
  ];
  return `${lines.join('\n')}\n`;
}

function certUntil(pem: string): string {
  try {
    return parseIdentity(pem).notAfter.toISOString().slice(0, 10);
  } catch {
    return '?';
  }
}

export function registerConfig(program: Command): void {
  const config = program
    .command('config')
    .description('show the network configuration; propose, sign and submit configuration updates');

  config
    .command('show')
    .description(
      'the configuration in force: organisations, orderers (voting/learner), peers, policies, consensus',
    )
    .option('--local', "read the network directory's configuration instead of asking the nodes")
    .option('--json', 'print JSON')
    .action(async (opts: { local?: boolean; json?: boolean }, cmd: Command) => {
      const ctx = await cliContext(cmd);
      const { config: c, source } = await inForce(ctx, opts.local);
      if (opts.json === true) printJson(c);
      else process.stdout.write(`${configTables(c)}(from ${source})\n`);
    });

  config
    .command('propose')
    .description('draft a configuration update into a proposal file for admins to sign')
    .requiredOption('--out <file>', 'the proposal file to write')
    .option(
      '--add-org <name[=ca.pem]>',
      'add an organisation (CA certificate from the file, or DIR/orgs/<name>/ca)',
      collect,
      [],
    )
    .option(
      '--add-orderer <entry.json>',
      'add an orderer ({name, org, host, port, apiPort, cert}); joins as a learner',
      collect,
      [],
    )
    .option('--add-peer <entry.json>', 'add a peer ({name, org, host, port, apiPort, cert})', collect, [])
    .option('--promote-orderer <name>', 'make a caught-up learner a voting orderer', collect, [])
    .option('--remove-node <name>', 'remove an orderer or a peer', collect, [])
    .option('--remove-org <name>', 'remove an organisation (without nodes)', collect, [])
    .option(
      '--policy <name=rule>',
      `set a policy (${POLICY_NAMES.join(', ')}), e.g. "endorsement=AND('org1', 'org2')"`,
      collect,
      [],
    )
    .option('--consensus <key=value>', 'set a consensus parameter, e.g. batchTimeoutMs=20', collect, [])
    .option('--replace-cert <name=cert.pem>', "replace a node's certificate", collect, [])
    .option(
      '--org-cas <org=ca.pem[,ca.pem]>',
      "replace an organisation's trusted CA certificates (a renewed CA: first renewed,old, then renewed)",
      collect,
      [],
    )
    .option('--local', "draft from the network directory's configuration instead of asking the nodes")
    .option('--force', 'overwrite the output file')
    .option('--json', 'print the proposal summary as JSON')
    .action(
      async (
        opts: ChangeFlags & { out: string; local?: boolean; force?: boolean; json?: boolean },
        cmd: Command,
      ) => {
        const ctx = await cliContext(cmd);
        const changes = await changesFromFlags(opts, ctx.dir);
        if (changes.length === 0)
          throw new ProposalError(
            "no change given (e.g. --remove-node NAME, --policy \"endorsement=AND('org1','org2')\"; see --help)",
          );
        const { config: current } = await inForce(ctx, opts.local);
        const proposal = draftProposal(current, changes);
        await writeProposal(opts.out, proposal, opts.force === true);
        if (opts.json === true)
          printJson({ file: opts.out, summary: proposal.summary, sequence: proposal.config.sequence });
        else
          process.stdout.write(
            `wrote ${opts.out}:\n${proposal.summary.map((l) => `  ${l}`).join('\n')}\n` +
              `needs approvals satisfying the admin policy ${formatPolicy(current.policies.admin)}: chainnode config sign ${opts.out}\n`,
          );
      },
    );

  config
    .command('sign')
    .description(
      "show what a proposal file changes, then add the current identity's approval (an organisation admin)",
    )
    .argument('<file>', 'a proposal written by config propose')
    .option('--local', "compare with the network directory's configuration instead of asking the nodes")
    .option('--yes', 'approve without asking (required when not run in a terminal)')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { local?: boolean; yes?: boolean; json?: boolean }, cmd: Command) => {
      const ctx = await cliContext(cmd);
      requireAdmin(ctx, 'approving a configuration update');
      const proposal = await readProposal(file);
      const { config: current } = await inForce(ctx, opts.local);
      if (proposal.networkId !== current.networkId)
        throw new ProposalError(
          `${file} is for network "${proposal.networkId}", this is "${current.networkId}"`,
        );
      if (proposal.config.sequence !== current.sequence + 1) {
        throw new ProposalError(
          `${file} was drafted from configuration sequence ${proposal.baseSequence}, but ${current.sequence} is in force: draft it again (config propose)`,
        );
      }
      // What this admin approves, recomputed from the configurations themselves, shown first.
      const summary = describeConfigDiff(current, proposal.config);
      const shown = opts.json === true ? process.stderr : process.stdout;
      shown.write(
        `${file} changes the configuration in force:\n${summary.map((l) => `  ${l}`).join('\n')}\n` +
          `approved so far by: ${approvingOrgs(proposal).join(', ') || 'nobody'}\n`,
      );
      if (opts.yes !== true) await confirm(`approve this as the admin of ${ctx.identity.org}?`);
      const signed = addApproval(
        { ...proposal, summary },
        { org: ctx.identity.org, certPem: ctx.user.certPem, keyPem: ctx.user.keyPem },
      );
      await writeProposal(file, signed, true);
      if (opts.json === true) printJson({ file, approvals: approvingOrgs(signed), summary });
      else
        process.stdout.write(
          `${ctx.identity.org} approved ${file}; approvals: ${approvingOrgs(signed).join(', ')} (admin policy ${formatPolicy(current.policies.admin)})\n`,
        );
    });

  config
    .command('submit')
    .description(
      'submit an approved proposal as a config transaction, wait for its validation and record it in DIR/config-updates/',
    )
    .argument('<file>', 'a proposal written by config propose and signed by enough admins')
    .option('--node <peer>', 'peer to submit through first (then the others, if it does not answer)')
    .option(
      '--timeout <s>',
      'seconds to wait for the commit',
      integerOption(1, SUBMIT_TIMEOUT_S_MAX),
      SUBMIT_TIMEOUT_S_DEFAULT,
    )
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { node?: string; timeout: number; json?: boolean }, cmd: Command) => {
      const ctx = await cliContext(cmd);
      requireAdmin(ctx, 'submitting a configuration update');
      let proposal = await readProposal(file);
      const problems = existingApprovalProblems(proposal);
      if (problems.length > 0) throw new ProposalError(`${file} cannot be submitted`, problems);
      const r = reconfigurer(ctx);
      const current = await currentConfig(r, ctx.network.config);
      const signer = { org: ctx.identity.org, certPem: ctx.user.certPem, keyPem: ctx.user.keyPem };
      // The submitter approves too (as Fabric's `peer channel update` signs), unless it has already.
      if (!proposal.approvals.some((a) => a.signer.cert === signer.certPem)) {
        if (proposal.approvals.some((a) => a.signer.org === signer.org))
          throw new ProposalError(`another admin of ${signer.org} approved ${file}; submit as that admin`);
        proposal = addApproval(proposal, signer);
      }
      const envelope = assembleEnvelope(proposal, current, signer);
      const gateways = submitGateways(current, ctx.identity.org, opts.node);
      r.progress(
        `submitting configuration sequence ${proposal.config.sequence} through ${gateways[0]?.name ?? '?'} (waiting up to ${opts.timeout} s)…`,
      );
      const outcome = await submitConfigEnvelope(r, current, envelope, gateways, opts.timeout * 1000);
      if (opts.json === true) printJson(outcome);
      else if (outcome.validation === 'VALID') {
        process.stdout.write(
          `configuration sequence ${proposal.config.sequence} committed (VALID) in block ${outcome.height}, txId ${outcome.txId}\n` +
            `${describeConfigDiff(current, proposal.config)
              .map((l) => `  ${l}`)
              .join('\n')}\nrecorded in ${outcome.recorded ?? '-'}\n`,
        );
      } else {
        process.stdout.write(
          `refused by the network: ${outcome.validation} (block ${outcome.height}, txId ${outcome.txId})\n`,
        );
      }
      if (outcome.validation !== 'VALID') process.exitCode = 1;
    });
}

/** The gateway's longest commit wait (the API refuses more). */
const SUBMIT_TIMEOUT_S_MAX = 300;
const SUBMIT_TIMEOUT_S_DEFAULT = 60;

/** `--node` first (it must be a peer of the configuration in force), then the other peers. */
function submitGateways(config: NetworkConfig, org: string, node: string | undefined): Gateway[] {
  const all = gatewaysFor(config, org);
  if (node === undefined) return all;
  const first = all.find((p) => p.name === node);
  if (first === undefined)
    throw new LocalError(
      'LOCAL_BAD_REQUEST',
      `--node ${node} is not a peer of the configuration in force (peers: ${all.map((p) => p.name).join(', ')})`,
    );
  return [first, ...all.filter((p) => p !== first)];
}

/** Asks a person at a terminal; refuses without one (a script says --yes). */
async function confirm(question: string): Promise<void> {
  if (!process.stdin.isTTY)
    throw new ProposalError(
      'not approved: config sign asks before approving, and no terminal is attached to answer; add --yes to approve what is shown above',
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim()))
      throw new ProposalError('not approved: the proposal file is unchanged');
  } finally {
    rl.close();
  }
}
