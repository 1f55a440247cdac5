import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createOrgCa, issueUserCert } from '../../certs/index.js';
import { signConfig } from '../network/index.js';
import { CertificateKeyCache, SigningKey } from '../crypto/index.js';
import { ChainStore } from '../ledger/index.js';
import {
  blockHash,
  canonicalBytes,
  sha256Hex,
  ValidationCode,
  type Envelope,
  type Hash,
  type NetworkConfig,
  type PolicyExpr,
} from '../protocol/index.js';
import { certifyLocally, invokeEnvelope, type Signer } from '../workload/index.js';
import {
  makeTestNetwork,
  sampleTrade,
  tradeEnvelope,
  type TestNetwork,
} from '../../test/support/chain-fixture.js';
import { dropSchema, testDatabaseUrl, uniqueSchema } from '../../test/support/database.js';
import { MembershipVerifier } from '../config/index.js';
import { deploymentWrites, LIFECYCLE_CONTRACT } from './lifecycle.js';
import { prefetchValidationContext } from './prefetch.js';
import { validateBlock } from './validate.js';

let net: TestNetwork;
let store: ChainStore;
let head: { height: number; hash: Hash };
const schema = uniqueSchema('validate');
const keys = new CertificateKeyCache();
let members: MembershipVerifier;

/** A lifecycle transaction deploying `name` with a trivial code body. */
function deploy(name: string, endorsementPolicy: PolicyExpr | null = null): Envelope {
  const code = `export function noop() { return '${name}'; }`;
  const definition = { name, version: '1', codeHash: sha256Hex(code), endorsementPolicy };
  return invokeEnvelope(net.client, net.peers, {
    contract: LIFECYCLE_CONTRACT,
    fn: 'deploy',
    args: [name, '1', code],
    outcome: () => ({ rwset: { reads: [], writes: deploymentWrites(definition, code) } }),
  });
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** Validates `txs` as the next block, commits it with the codes, and returns the codes. */
async function commit(
  txs: Envelope[],
  config: NetworkConfig = net.config,
): Promise<{ codes: number[]; config: NetworkConfig }> {
  const { block, commitCertificate } = certifyLocally(net.orderers, head, txs, Date.now());
  const ctx = await prefetchValidationContext(store, block, {
    config,
    members,
    keys,
  });
  const result = validateBlock(block, ctx);
  await store.appendBlock({ block, validationCodes: result.codes, commitCertificate });
  head = { height: block.header.height, hash: blockHash(block.header) };
  return result;
}

function kvPut(
  client: Signer,
  endorsers: readonly Signer[],
  key: string,
  value: string,
  readVersion?: { height: number; txIndex: number } | null,
): Envelope {
  return invokeEnvelope(client, endorsers, {
    contract: 'kv',
    fn: 'put',
    args: [key, value],
    outcome: () => ({
      rwset: {
        reads: readVersion === undefined ? [] : [{ ns: 'kv', key, version: readVersion }],
        writes: [{ ns: 'kv', key, value: b64(value) }],
      },
    }),
  });
}

beforeAll(async () => {
  net = await makeTestNetwork({ orderers: 4, orgs: 2 });
  members = new MembershipVerifier(net.config);
  store = await ChainStore.open({ connectionString: testDatabaseUrl(), schema });
  head = await store.appendBlock({ block: net.genesis, validationCodes: [0], commitCertificate: null });
  const { codes } = await commit([deploy('trade'), deploy('kv')]);
  expect(codes).toEqual([ValidationCode.VALID, ValidationCode.VALID]);
});

afterAll(async () => {
  await store.close();
  await dropSchema(schema);
});

describe('validating a final block (execute-order-validate)', () => {
  it('accepts well-signed, well-endorsed transactions and applies their writes', async () => {
    const { codes } = await commit([
      tradeEnvelope(net, sampleTrade(1)),
      kvPut(net.client, net.peers, 'a', '1', null),
    ]);
    expect(codes).toEqual([ValidationCode.VALID, ValidationCode.VALID]);
    expect((await store.getState('kv', 'a'))?.value.toString()).toBe('1');
  });

  it('flags a forged client signature, a foreign client and a peer posing as a client', async () => {
    const forged = tradeEnvelope(net, sampleTrade(2));
    const tampered: Envelope = { ...forged, signature: net.admin.key.sign('envelope', Buffer.from('x')) };
    const rogueCa = await createOrgCa({ org: 'org1', validityDays: 5 });
    const rogueCert = await issueUserCert({
      ca: rogueCa,
      org: 'org1',
      role: 'client',
      name: 'mallory',
      validityDays: 5,
    });
    const rogue: Signer = {
      identity: { org: 'org1' as Signer['identity']['org'], cert: rogueCert.certPem },
      key: SigningKey.fromPem(rogueCert.keyPem),
    };
    const peerAsClient = tradeEnvelope({ ...net, client: net.peers[0]! }, sampleTrade(3));
    const { codes } = await commit([
      tampered,
      tradeEnvelope({ ...net, client: rogue }, sampleTrade(4)),
      peerAsClient,
    ]);
    expect(codes).toEqual([
      ValidationCode.BAD_CREATOR_SIGNATURE,
      ValidationCode.BAD_CREATOR_SIGNATURE,
      ValidationCode.BAD_CREATOR_SIGNATURE,
    ]);
  });

  it('flags endorsements that are missing, forged, or made by a non-peer', async () => {
    const onlyOrg1 = kvPut(net.client, [net.peers[0]!], 'b', '1', null);
    const good = kvPut(net.client, net.peers, 'c', '1', null);
    const forgedPayload = structuredClone(good.payload);
    if (forgedPayload.type !== 'invoke') throw new Error('invoke expected');
    forgedPayload.endorsements[1] = {
      ...forgedPayload.endorsements[1]!,
      signature: forgedPayload.endorsements[0]!.signature,
    };
    const forged: Envelope = {
      payload: forgedPayload,
      signature: net.client.key.sign('envelope', canonicalBytes(forgedPayload)),
    };
    const byClient = kvPut(net.client, [net.peers[0]!, net.client], 'd', '1', null);
    const { codes } = await commit([onlyOrg1, forged, byClient]);
    expect(codes[0]).toBe(ValidationCode.ENDORSEMENT_POLICY_FAILURE);
    expect(codes[1]).toBe(ValidationCode.BAD_ENDORSEMENT_SIGNATURE);
    expect(codes[2]).toBe(ValidationCode.BAD_ENDORSEMENT_SIGNATURE);
    expect(await store.getState('kv', 'b')).toBeNull();
  });

  it('flags a replayed transaction id, from an earlier block or earlier in the same block', async () => {
    const original = (await store.getBlock(2))!.block.transactions[0]!;
    const fresh = kvPut(net.client, net.peers, 'e', '1', null);
    const { codes } = await commit([original, fresh, fresh]);
    expect(codes).toEqual([
      ValidationCode.DUPLICATE_TXID,
      ValidationCode.VALID,
      ValidationCode.DUPLICATE_TXID,
    ]);
  });

  it('flags a stale read, counting writes of valid transactions earlier in the same block', async () => {
    const a = await store.getState('kv', 'a');
    const stale = kvPut(net.client, net.peers, 'a', 'stale', { height: 0, txIndex: 0 });
    const first = kvPut(net.client, net.peers, 'a', 'first', a!.version);
    const second = kvPut(net.client, net.peers, 'a', 'second', a!.version);
    const { codes } = await commit([stale, first, second]);
    expect(codes).toEqual([
      ValidationCode.MVCC_READ_CONFLICT,
      ValidationCode.VALID,
      ValidationCode.MVCC_READ_CONFLICT,
    ]);
    expect((await store.getState('kv', 'a'))?.value.toString()).toBe('first');
  });

  it('flags a call to a contract that is not deployed and writes outside the contract namespace', async () => {
    const unknown = invokeEnvelope(net.client, net.peers, {
      contract: 'nosuch',
      fn: 'f',
      args: [],
      outcome: () => ({ rwset: { reads: [], writes: [] } }),
    });
    const trespass = invokeEnvelope(net.client, net.peers, {
      contract: 'kv',
      fn: 'put',
      args: [],
      outcome: () => ({ rwset: { reads: [], writes: [{ ns: 'trade', key: 'x', value: b64('y') }] } }),
    });
    const { codes } = await commit([unknown, trespass]);
    expect(codes).toEqual([ValidationCode.CONTRACT_NOT_FOUND, ValidationCode.BAD_PAYLOAD]);
  });

  it('applies a config change approved under the admin policy at the next sequence, and refuses others', async () => {
    const admins = net.material.users.filter((u) => u.role === 'admin');
    const next: NetworkConfig = {
      ...net.config,
      sequence: 1,
      consensus: { ...net.config.consensus, batchTxMax: 100 },
    };
    const skipped: NetworkConfig = { ...net.config, sequence: 5 };
    const { codes, config } = await commit([
      signConfig(skipped, admins),
      signConfig(next, admins.slice(0, 1)),
      // Another submitter: the same creator and config would repeat the refused one's txId.
      signConfig(next, [...admins].reverse()),
    ]);
    expect(codes).toEqual([
      ValidationCode.BAD_CONFIG_UPDATE,
      ValidationCode.BAD_CONFIG_UPDATE,
      ValidationCode.VALID,
    ]);
    expect(config.consensus.batchTxMax).toBe(100);
  });

  it('holds a contract to its own endorsement policy, overriding the network default', async () => {
    const onlyOrg2: PolicyExpr = { org: net.config.orgs[1]!.name };
    expect((await commit([deploy('strict', onlyOrg2)])).codes).toEqual([ValidationCode.VALID]);
    const put = (endorsers: readonly Signer[]): Envelope =>
      invokeEnvelope(net.client, endorsers, {
        contract: 'strict',
        fn: 'put',
        args: [],
        outcome: () => ({ rwset: { reads: [], writes: [{ ns: 'strict', key: 'k', value: b64('v') }] } }),
      });
    const { codes } = await commit([put([net.peers[0]!]), put([net.peers[1]!])]);
    expect(codes).toEqual([ValidationCode.ENDORSEMENT_POLICY_FAILURE, ValidationCode.VALID]);
  });

  it('lets only creators allowed by the deploy policy deploy contracts', async () => {
    const org2Only: NetworkConfig = {
      ...net.config,
      policies: { ...net.config.policies, deploy: { org: net.config.orgs[1]!.name } },
    };
    const { codes } = await commit([deploy('blocked')], org2Only);
    expect(codes).toEqual([ValidationCode.UNAUTHORIZED_CREATOR]);
  });
});
