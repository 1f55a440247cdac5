import { beforeAll, describe, expect, it } from '@jest/globals';
import YAML from 'yaml';
import { createOrgCa, issueNodeCert } from '../../certs/index.js';
import { generateNetwork, type NetworkMaterial } from '../network/index.js';
import { blockHash } from '../protocol/index.js';
import { ConfigError } from './errors.js';
import { parseNetworkFile, renderNetworkFile } from './network-file.js';

let material: NetworkMaterial;
let text: string;
const now = new Date();

beforeAll(async () => {
  material = await generateNetwork({ orderers: 4, orgs: 2, peersPerOrg: 1 });
  text = renderNetworkFile(material.genesis);
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

/** Re-renders network.yaml after `edit` changes the parsed document. */
function edited(edit: (doc: Record<string, any>) => void): string {
  const doc = YAML.parse(text) as Record<string, any>;
  edit(doc);
  return YAML.stringify(doc);
}

describe('network.yaml', () => {
  it('round-trips to the very genesis block it was rendered from', () => {
    const loaded = parseNetworkFile(text, 'network.yaml', now);
    expect(loaded.genesis).toEqual(material.genesis);
    expect(loaded.genesisHash).toBe(blockHash(material.genesis.header));
    expect(loaded.config.orderers.map((o) => o.name)).toEqual([
      'orderer0',
      'orderer1',
      'orderer2',
      'orderer3',
    ]);
  });

  it('reports a YAML syntax error with its line', () => {
    const err = configError(() => parseNetworkFile('version: 1\nconfig: [\n', 'bad.yaml', now));
    expect(err.code).toBe('CONFIG_SYNTAX');
    expect(err.message).toMatch(/bad\.yaml is not valid YAML: .*line 3/s);
  });

  it('refuses alias bombs', () => {
    const laughs = [
      'a: &a ["lol","lol"]',
      ...Array.from(
        { length: 20 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`,
      ),
    ].join('\n');
    expect(configError(() => parseNetworkFile(laughs, 'bomb.yaml', now)).code).toBe('CONFIG_SYNTAX');
  });

  it('names the field that breaks the schema', () => {
    const err = configError(() =>
      parseNetworkFile(
        edited((d) => (d.config.orderers = [])),
        'n.yaml',
        now,
      ),
    );
    expect(err.code).toBe('CONFIG_SCHEMA');
    expect(err.message).toContain('network.config.orderers');
    const port = configError(() =>
      parseNetworkFile(
        edited((d) => (d.config.peers[0].port = 70000)),
        'n.yaml',
        now,
      ),
    );
    expect(port.message).toContain('network.config.peers.0.port');
  });

  it('lists every cross-reference problem, not only the first', () => {
    const err = configError(() =>
      parseNetworkFile(
        edited((d) => {
          d.config.orderers[1].name = 'orderer0';
          d.config.peers[0].org = 'org9';
          d.config.policies.endorsement = { and: [{ org: 'org1' }, { org: 'org7' }] };
        }),
        'n.yaml',
        now,
      ),
    );
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.problems).toEqual(
      expect.arrayContaining([
        'node names must be unique; repeated: orderer0',
        'peers[0] (peer0-org1) belongs to org "org9", which is not in orgs',
        'policies.endorsement names org "org7", which is not in orgs',
      ]),
    );
    expect(err.problems).toContain('orderers[1].cert is issued to "orderer1", not "orderer0"');
  });

  it('refuses a node certificate from a CA outside the consortium or with the wrong role', async () => {
    const rogueCa = await createOrgCa({ org: 'org1', validityDays: 10 });
    const rogue = await issueNodeCert({
      ca: rogueCa,
      org: 'org1',
      role: 'orderer',
      name: 'orderer0',
      dnsNames: ['localhost'],
      ipAddresses: [],
      validityDays: 5,
    });
    const err = configError(() =>
      parseNetworkFile(
        edited((d) => (d.config.orderers[0].cert = rogue.certPem)),
        'n.yaml',
        now,
      ),
    );
    expect(err.problems.find((p) => p.startsWith('orderers[0].cert (orderer0)'))).toMatch(
      /signed by none of the 1 trusted CAs/,
    );
    const swapped = configError(() =>
      parseNetworkFile(
        edited((d) => (d.config.orderers[0].cert = d.config.peers[0].cert)),
        'n.yaml',
        now,
      ),
    );
    expect(swapped.problems).toContain('orderers[0].cert has role peer, expected orderer');
  });

  it('refuses an edited configuration: the admins signed something else', () => {
    const err = configError(() =>
      parseNetworkFile(
        edited((d) => (d.config.consensus.batchTxMax = 7)),
        'n.yaml',
        now,
      ),
    );
    expect(err.problems).toContain("genesis.approvals[0]: the signature of org org1's admin does not verify");
    expect(err.problems).toContain('genesis.approvals from [] do not satisfy the admin policy');
  });

  it('refuses a genesis approved by fewer admins than the admin policy needs', () => {
    const err = configError(() =>
      parseNetworkFile(
        edited((d) => d.genesis.approvals.pop()),
        'n.yaml',
        now,
      ),
    );
    expect(err.problems).toContain('genesis.approvals from [org1] do not satisfy the admin policy');
  });

  it('refuses the configuration once its certificates have expired', () => {
    const later = new Date(now.getTime() + 400 * 24 * 3600 * 1000);
    const err = configError(() => parseNetworkFile(text, 'n.yaml', later));
    expect(err.problems.some((p) => /expired/i.test(p))).toBe(true);
  });

  it('refuses consensus parameters whose view changes would not fit in one transport message', () => {
    const err = configError(() =>
      parseNetworkFile(
        edited((d) => {
          d.config.consensus.window = 8;
          d.config.consensus.batchBytesMax = 4 * 1024 * 1024;
        }),
        'n.yaml',
        now,
      ),
    );
    expect(
      err.problems.some((p) => p.startsWith('consensus.window × consensus.batchBytesMax is 33554432 bytes')),
    ).toBe(true);
  });
});
