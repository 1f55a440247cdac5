import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyConfigChanges, approvalProblems, type ConfigChange } from '../../node/config/index.js';
import { generateNetwork, type NetworkMaterial } from '../../node/network/index.js';
import type { NetworkConfig } from '../../node/protocol/index.js';
import {
  addApproval,
  assembleEnvelope,
  changesFromFlags,
  describeConfigDiff,
  draftProposal,
  existingApprovalProblems,
  parsePolicy,
  readProposal,
  writeProposal,
  type Signer,
} from '../../node/sdk/index.js';
import {
  adminShortfall,
  membershipOf,
  quorumProblem,
  READY_MARGIN_BLOCKS,
  removalProblem,
} from '../../node/local/membership.js';
import { parsePolicy as benchParsePolicy } from '../../node/bench/policy.js';
import { parseIdentity, renewCert, renewOrgCa } from '../../certs/index.js';
import { randomLoopback, runChainnode } from '../support/processes.js';

let material: NetworkMaterial;
let config: NetworkConfig;
let work: string;

function admin(org: string): Signer {
  const u = material.users.find((x) => x.org === org && x.role === 'admin')!;
  return { org, certPem: u.certPem, keyPem: u.keyPem };
}
function client(org: string): Signer {
  const u = material.users.find((x) => x.org === org && x.role === 'client')!;
  return { org, certPem: u.certPem, keyPem: u.keyPem };
}

beforeAll(async () => {
  material = await generateNetwork({ orderers: 4, orgs: 3 });
  config = material.config;
  work = await mkdtemp(join(tmpdir(), 'chainnode-proposal-'));
  await chmod(work, 0o755);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('parsePolicy', () => {
  it("reads Fabric's syntax, nested, quoted or not, keywords in any case, and the JSON form", () => {
    expect(parsePolicy("AND('org1', 'org2')")).toEqual({ and: [{ org: 'org1' }, { org: 'org2' }] });
    expect(parsePolicy('or(org1, OutOf(2, \'org2\', "org3", org4))')).toEqual({
      or: [{ org: 'org1' }, { outOf: { k: 2, of: [{ org: 'org2' }, { org: 'org3' }, { org: 'org4' }] } }],
    });
    expect(parsePolicy('org1')).toEqual({ org: 'org1' });
    expect(parsePolicy('{"and":[{"org":"a"},{"org":"b"}]}')).toEqual({ and: [{ org: 'a' }, { org: 'b' }] });
  });

  it('names what is wrong and where', () => {
    expect(() => parsePolicy('')).toThrow('the policy is empty');
    expect(() => parsePolicy("XOR('a','b')")).toThrow('unknown policy operator XOR');
    expect(() => parsePolicy('AND(Org1)')).toThrow(/^invalid policy "AND\(Org1\)": .*lowercase/);
    expect(() => parsePolicy("AND('a'")).toThrow('ends too early');
    expect(() => parsePolicy("AND('a' 'b')")).toThrow('at character 9: expected "," or ")"');
    expect(() => parsePolicy("AND('a)")).toThrow('unterminated quote');
    expect(() => parsePolicy("'Org1MSP.member'")).toThrow('name the organisation alone');
    expect(() => parsePolicy("OutOf(3, 'a', 'b')")).toThrow('k must not exceed the number of terms');
    expect(() => parsePolicy("OutOf('a', 'b')")).toThrow('OutOf needs a count first');
    expect(() => parsePolicy("AND('a') x")).toThrow('unexpected text after the policy');
    expect(() => parsePolicy('{"and": [')).toThrow('not valid JSON');
  });
});

describe('changesFromFlags', () => {
  it('orders changes so that they always apply: orgs, nodes, certificates, promotions, policies, consensus, removals', async () => {
    const ca = join(work, 'ca.pem');
    await writeFile(ca, material.cas[0]!.certPem);
    const changes = await changesFromFlags({
      removeNode: ['peer0-org1'],
      consensus: ['batchTimeoutMs=20', 'window=8'],
      policy: ["endorsement=OutOf(2, 'org1', 'org2', 'org3')"],
      promoteOrderer: ['orderer9'],
      addOrg: [`neworg=${ca}`],
    });
    expect(changes.map((c) => c.op)).toEqual([
      'add-org',
      'promote-orderer',
      'set-policy',
      'set-consensus',
      'remove-node',
    ]);
    expect(changes[3]).toEqual({ op: 'set-consensus', params: { batchTimeoutMs: 20, window: 8 } });
  });

  it('refuses unknown policies and parameters, malformed values and unreadable files, naming them', async () => {
    await expect(changesFromFlags({ policy: ['readers=org1'] })).rejects.toThrow('unknown policy "readers"');
    await expect(changesFromFlags({ policy: ['endorsement'] })).rejects.toThrow('--policy needs NAME=VALUE');
    await expect(changesFromFlags({ consensus: ['speed=9'] })).rejects.toThrow('unknown parameter "speed"');
    await expect(changesFromFlags({ consensus: ['window=-1'] })).rejects.toThrow('expected a whole number');
    await expect(changesFromFlags({ addOrderer: [join(work, 'nope.json')] })).rejects.toThrow('cannot read');
    const bad = join(work, 'bad-entry.json');
    await writeFile(bad, JSON.stringify({ name: 'x', org: 'org1' }));
    await expect(changesFromFlags({ addPeer: [bad] })).rejects.toThrow(/--add-peer .*add-peer\.host/);
  });
});

describe('proposals', () => {
  it('drafts the next sequence with a summary computed from the configurations', () => {
    const p = draftProposal(config, [
      { op: 'set-policy', policy: 'endorsement', expr: parsePolicy("OR('org1', 'org3')") },
      { op: 'remove-node', name: 'orderer3' },
    ]);
    expect(p.config.sequence).toBe(config.sequence + 1);
    expect(p.approvals).toEqual([]);
    expect(p.summary).toEqual([
      'remove orderer orderer3',
      "set the endorsement policy: AND('org1', 'org2', 'org3') -> OR('org1', 'org3')",
      'voting orderers: 4 -> 3',
      'configuration sequence 0 -> 1',
    ]);
  });

  it('refuses updates the network would refuse, listing why', () => {
    expect(() => draftProposal(config, [{ op: 'promote-orderer', name: 'orderer0' }])).toThrow(
      'orderer "orderer0" already votes',
    );
    expect(() =>
      draftProposal(config, [
        { op: 'remove-node', name: 'orderer2' },
        { op: 'remove-node', name: 'orderer3' },
      ]),
    ).toThrow('changes 2 voting orderers at once');
    let one = config;
    for (const name of ['orderer1', 'orderer2', 'orderer3'])
      one = applyConfigChanges(one, [{ op: 'remove-node', name }]);
    expect(() => draftProposal(one, [{ op: 'remove-node', name: 'orderer0' }])).toThrow(
      'leaves no voting orderer',
    );
    expect(() => draftProposal(config, [])).toThrow('at least one change');
  });

  it('takes approvals from admins only, one per organisation, and detects a file edited after signing', () => {
    const p = draftProposal(config, [{ op: 'set-consensus', params: { batchTimeoutMs: 25 } }]);
    expect(() => addApproval(p, client('org1'))).toThrow('is a client, not an admin');
    const once = addApproval(p, admin('org1'));
    expect(() => addApproval(once, admin('org1'))).toThrow("already signed by org1's admin");
    const twice = addApproval(once, admin('org2'));
    expect(twice.approvals.map((a) => a.signer.org)).toEqual(['org1', 'org2']);
    const edited = {
      ...twice,
      config: { ...twice.config, consensus: { ...twice.config.consensus, window: 9 } },
    };
    expect(existingApprovalProblems(edited)).toEqual([
      expect.stringContaining('the file was changed after it was signed'),
      expect.stringContaining('the file was changed after it was signed'),
    ]);
    expect(() => addApproval(edited, admin('org3'))).toThrow('cannot be signed');
  });

  it('assembles an envelope the network accepts once the admin policy is met, and refuses before with the policy named', () => {
    const p = addApproval(draftProposal(config, [{ op: 'remove-node', name: 'peer0-org3' }]), admin('org1'));
    // Default admin policy: a majority of three organisations.
    expect(() => assembleEnvelope(p, config, admin('org1'))).toThrow(
      /do not satisfy the admin policy.*\n?.*|admin policy in force is OutOf\(2, 'org1', 'org2', 'org3'\)/,
    );
    expect(() => assembleEnvelope(p, config, admin('org2'))).toThrow('must have approved');
    const ok = addApproval(p, admin('org3'));
    const envelope = assembleEnvelope(ok, config, admin('org3'));
    expect(approvalProblems(envelope, config, config.policies.admin, new Date())).toEqual([]);
    // Drafted from a configuration that has since changed.
    const moved = applyConfigChanges(config, [{ op: 'set-consensus', params: { window: 2 } }]);
    expect(() => assembleEnvelope(ok, moved, admin('org3'))).toThrow(
      'conflicts with a change applied since it was drafted',
    );
  });

  it('round-trips through a file, refusing to overwrite unless asked and refusing files that are not proposals', async () => {
    const file = join(work, 'p.json');
    const p = draftProposal(config, [{ op: 'set-consensus', params: { window: 2 } }]);
    await writeProposal(file, p, false);
    await expect(writeProposal(file, p, false)).rejects.toThrow(
      'exists; choose another --out or add --force',
    );
    expect(await readProposal(file)).toEqual(p);
    const other = join(work, 'other.json');
    await writeFile(other, '{"hello": 1}');
    await expect(readProposal(other)).rejects.toThrow('is not a configuration proposal');
    await writeFile(other, 'not json');
    await expect(readProposal(other)).rejects.toThrow('is not JSON');
    const broken = JSON.parse(await readFile(file, 'utf8'));
    broken.config.sequence = -1;
    await writeFile(other, JSON.stringify(broken));
    await expect(readProposal(other)).rejects.toThrow('proposal.config.sequence');
  });

  it("rolls a renewed CA in with --org-cas, and refuses an organisation's CA swap it did not approve", async () => {
    const ca = material.cas.find((c) => c.org === 'org2')!;
    const renewed = await renewOrgCa({ ca, validityDays: 3650 });
    const renewedPath = join(work, 'org2-renewed.pem');
    const oldPath = join(work, 'org2-old.pem');
    await writeFile(renewedPath, renewed);
    await writeFile(oldPath, ca.certPem);
    const changes = await changesFromFlags({ orgCas: [`org2=${renewedPath},${oldPath}`] });
    expect(changes).toEqual([{ op: 'set-org-cas', org: 'org2', caCerts: [renewed, ca.certPem] }]);
    const proposal = draftProposal(config, changes);
    expect(proposal.summary).toContain('replace the CA certificates of organisation org2');
    // Approved by org1 and org3 only (a majority), org2's own admin missing: refused, naming why.
    let approved = proposal;
    for (const org of ['org1', 'org3']) approved = addApproval(approved, admin(org));
    expect(() => assembleEnvelope(approved, config, admin('org1'))).toThrow(
      /the CA certificates of org org2 change, so its own admin must approve the update/,
    );
    const envelope = assembleEnvelope(addApproval(approved, admin('org2')), config, admin('org1'));
    expect(envelope.payload.type).toBe('config');
  });

  it('describes joins, promotions, certificate replacements and new organisations', () => {
    const peer = material.peers[0]!.entry;
    const joined = applyConfigChanges(config, [
      { op: 'add-orderer', entry: { ...peer, name: 'orderer7' as never, port: 1, apiPort: 2 } },
    ] as ConfigChange[]);
    expect(describeConfigDiff(config, joined)[0]).toMatch(/^add orderer orderer7 .* as a learner/);
    const promoted = { ...joined, orderers: joined.orderers.map(({ learner: _l, ...o }) => o), sequence: 2 };
    expect(describeConfigDiff(joined, promoted)).toContain('promote orderer orderer7 to a voting member');
    const swapped = applyConfigChanges(config, [{ op: 'replace-cert', name: 'peer0-org1', cert: peer.cert }]);
    expect(describeConfigDiff(config, swapped)).toEqual(['configuration sequence 0 -> 1']);
    const withOrg = applyConfigChanges(config, [
      { op: 'add-org', org: { name: 'org9' as never, caCerts: [material.cas[0]!.certPem] } },
    ]);
    expect(describeConfigDiff(config, withOrg)[0]).toBe('add organisation org9 (1 CA certificate(s))');
  });
});

describe('local-network helpers', () => {
  it('renews a node certificate for the same key', async () => {
    const orderer = material.orderers[0]!;
    const ca = material.cas.find((c) => c.org === orderer.entry.org)!;
    const renewed = await renewCert({
      ca,
      certPem: orderer.entry.cert,
      keyPem: orderer.keyPem,
      validityDays: 30,
    });
    const before = parseIdentity(orderer.entry.cert);
    const after = parseIdentity(renewed);
    expect(after.publicKeyPem).toBe(before.publicKeyPem);
    expect(after.fingerprint).not.toBe(before.fingerprint);
    expect([after.name, after.org, after.role]).toEqual([before.name, before.org, before.role]);
    const next = applyConfigChanges(config, [
      { op: 'replace-cert', name: orderer.entry.name, cert: renewed },
    ]);
    expect(describeConfigDiff(config, next)).toContain('replace the certificate of orderer orderer0');
  });

  it('node remove refuses an unknown node, the last voting orderer and the last peer', () => {
    expect(removalProblem(config, 'orderer9')).toMatch(/^no node named "orderer9" \(members: orderer0, /);
    expect(removalProblem(config, 'orderer0')).toBeNull();
    let one = config;
    for (const name of ['orderer1', 'orderer2', 'orderer3', 'peer0-org2', 'peer0-org3'])
      one = applyConfigChanges(one, [{ op: 'remove-node', name }]);
    expect(removalProblem(one, 'orderer0')).toContain('orderer0 is the last voting orderer');
    expect(removalProblem(one, 'peer0-org1')).toContain('peer0-org1 is the last peer');
  });

  it('the local shortcuts refuse to act without enough admins for the admin policy', () => {
    expect(adminShortfall(config, [admin('org1'), admin('org2')], 'DIR')).toBeNull();
    expect(adminShortfall(config, [admin('org1')], 'DIR')).toBe(
      "not enough organisation admins to approve: the admin policy OutOf(2, 'org1', 'org2', 'org3') needs more than the admins whose keys are in DIR (org1)",
    );
  });

  it("reads an orderer's membership from the field its /status sends", () => {
    expect(membershipOf({ membership: 'learner' })).toBe('learner');
    expect(membershipOf({ membership: 'voting' })).toBe('voting');
    expect(membershipOf({ membership: 'not-member' })).toBe('not-member');
    // A peer reports null; anything else is not a membership.
    expect(membershipOf({ membership: null })).toBeUndefined();
    expect(membershipOf({ membership: 'votes' })).toBeUndefined();
    expect(membershipOf({})).toBeUndefined();
  });

  it('bench --policy and config propose --policy share one parser', () => {
    expect(benchParsePolicy).toBe(parsePolicy);
  });
});

describe('the quorum guard before promoting, removing or restarting a voting orderer', () => {
  // config: orderer0..3 voting (quorum 3 of 4).
  const heights = (entries: Record<string, number>) => new Map(Object.entries(entries));
  const all = heights({ orderer0: 100, orderer1: 100, orderer2: 99, orderer3: 100 });

  it('allows each change when every voting orderer answers and is caught up', () => {
    expect(quorumProblem(config, { op: 'remove', name: 'orderer3' }, all)).toBeNull();
    expect(quorumProblem(config, { op: 'restart', name: 'orderer3' }, all)).toBeNull();
    expect(quorumProblem(config, { op: 'join' }, all)).toBeNull();
  });

  it('refuses to remove a voter when the others would not make the smaller quorum', () => {
    // 4 -> 3 voting orderers: quorum 2; orderer1 and orderer2 are silent, orderer0 alone is left.
    const twoDown = heights({ orderer0: 100, orderer3: 100 });
    expect(quorumProblem(config, { op: 'remove', name: 'orderer3' }, twoDown)).toBe(
      'only 2 of 4 voting orderers answer and are caught up, and ordering the update needs 3; not ready: orderer1, orderer2',
    );
    const oneDown = heights({ orderer0: 100, orderer1: 100, orderer3: 100 });
    // Removing the silent one is fine (3 left, 2 needed); removing a live one leaves 2 of quorum 2.
    expect(quorumProblem(config, { op: 'remove', name: 'orderer2' }, oneDown)).toBeNull();
    expect(quorumProblem(config, { op: 'remove', name: 'orderer3' }, oneDown)).toBeNull();
    // Restarting a live voter while another is down leaves 2 of the 4-node quorum 3.
    expect(quorumProblem(config, { op: 'restart', name: 'orderer3' }, oneDown)).toBe(
      'restarting orderer3 leaves 4 voting orderers, whose quorum is 3, but only 2 would be ready; not ready: orderer2',
    );
  });

  it('counts a voter far behind as not ready, and a learner only once caught up', () => {
    const behind = heights({
      orderer0: 500,
      orderer1: 500,
      orderer2: 500 - READY_MARGIN_BLOCKS - 1,
      orderer3: 500,
    });
    expect(quorumProblem(config, { op: 'restart', name: 'orderer0' }, behind)).toContain(
      'not ready: orderer2',
    );
    const withLearner = applyConfigChanges(config, [
      {
        op: 'add-orderer',
        entry: { ...material.orderers[0]!.entry, name: 'orderer7' as never, port: 1, apiPort: 2 },
      },
    ] as ConfigChange[]);
    // 5 voting after the promotion: quorum 4. Four ready voters suffice even with a lagging learner...
    expect(
      quorumProblem(withLearner, { op: 'promote', name: 'orderer7' }, new Map([...all, ['orderer7', 3]])),
    ).toBeNull();
    // ...but with a voter down, the learner must be caught up to count.
    const oneDown = heights({ orderer0: 100, orderer1: 100, orderer3: 100 });
    expect(
      quorumProblem(withLearner, { op: 'promote', name: 'orderer7' }, new Map([...oneDown, ['orderer7', 3]])),
    ).toBe(
      'promoting orderer7 (not caught up) leaves 5 voting orderers, whose quorum is 4, but only 3 would be ready; not ready: orderer2',
    );
    expect(
      quorumProblem(
        withLearner,
        { op: 'promote', name: 'orderer7' },
        new Map([...oneDown, ['orderer7', 100]]),
      ),
    ).toBeNull();
  });
});

describe('config and membership commands refuse bad input in one line', () => {
  let dir: string;
  beforeAll(async () => {
    dir = join(work, 'net');
    const { host, basePort } = randomLoopback();
    const init = await runChainnode([
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
      '--out',
      dir,
    ]);
    expect(init.code).toBe(0);
  });
  const chainnode = (...args: string[]) => runChainnode(['--dir', dir, ...args]);

  it('propose, sign and submit', async () => {
    const none = await chainnode('config', 'propose', '--local', '--out', join(work, 'x.json'));
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no change given');
    const badPolicy = await chainnode(
      'config',
      'propose',
      '--local',
      '--policy',
      'endorsement=AND(',
      '--out',
      join(work, 'x.json'),
    );
    expect(badPolicy.stderr).toContain('the policy ends too early');
    const file = join(work, 'cli.json');
    const ok = await chainnode(
      'config',
      'propose',
      '--local',
      '--policy',
      "endorsement=OR('org1','org2')",
      '--out',
      file,
    );
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("set the endorsement policy: AND('org1', 'org2') -> OR('org1', 'org2')");
    const asClient = await chainnode('--identity', 'org2/client', 'config', 'sign', file, '--local');
    expect(asClient.code).toBe(1);
    expect(asClient.stderr).toContain('org2/client is a client (use --identity <org>/admin)');
    // Without a terminal, sign shows what it would approve and refuses unless --yes.
    const before = await readFile(file, 'utf8');
    const unasked = await chainnode('config', 'sign', file, '--local');
    expect(unasked.code).toBe(1);
    expect(unasked.stdout).toContain("set the endorsement policy: AND('org1', 'org2') -> OR('org1', 'org2')");
    expect(unasked.stderr).toContain('add --yes to approve what is shown above');
    expect(await readFile(file, 'utf8')).toBe(before);
    const signed = await chainnode('config', 'sign', file, '--local', '--yes');
    expect(signed.code).toBe(0);
    expect(signed.stdout).toContain('org1 approved');
    const twice = await chainnode('config', 'sign', file, '--local', '--yes');
    expect(twice.stderr).toContain("already signed by org1's admin");
    expect(twice.stderr.trim().split('\n')).toHaveLength(1);
    const notProposal = await chainnode('config', 'sign', join(dir, 'network.yaml'), '--local');
    expect(notProposal.stderr).toContain('is not JSON');
    // --timeout is in seconds, like every other --timeout.
    const millis = await chainnode('config', 'submit', file, '--timeout', '60000');
    expect(millis.code).not.toBe(0);
    expect(millis.stderr).toContain('expected an integer from 1 to 300, got "60000"');
  });

  it('node add, remove, rotate and org add', async () => {
    const role = await chainnode('node', 'add', '--role', 'observer');
    expect(role.code).not.toBe(0);
    expect(role.stderr).toContain("argument 'observer' is invalid. Allowed choices are orderer, peer.");
    const both = await chainnode('node', 'rotate', 'orderer0', '--all');
    expect(both.stderr).toContain('give node names or --all, not both');
    const nothing = await chainnode('node', 'rotate');
    expect(nothing.stderr).toContain('name the nodes to rotate, or --all');
    // Nothing is running in this directory: refused before anything is written or submitted.
    for (const args of [
      ['node', 'remove', 'orderer0'],
      ['node', 'add', '--role', 'peer', '--name', 'peer5-org1'],
      ['node', 'rotate', 'orderer0'],
      ['org', 'add', 'org3'],
    ]) {
      const down = await chainnode(...args);
      expect({ args, code: down.code }).toEqual({ args, code: 1 });
      expect(down.stderr).toContain(
        'starts and stops nodes through the supervisor of `chainnode up`, and nothing was submitted',
      );
      expect(down.stderr).toContain('no local network is running from');
    }
    expect(existsSync(join(dir, 'orgs', 'org1', 'peers', 'peer5-org1'))).toBe(false);
    expect(existsSync(join(dir, 'orgs', 'org3'))).toBe(false);
    const peers = await chainnode('org', 'add', 'org3', '--peers', '99');
    expect(peers.stderr).toContain('expected an integer from 0 to 16');
  });
});
