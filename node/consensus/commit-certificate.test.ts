import { beforeAll, describe, expect, it } from '@jest/globals';
import { CertificateKeyCache } from '../crypto/index.js';
import {
  certifiedBlock,
  genesisHead,
  makeTestNetwork,
  type TestNetwork,
} from '../../test/support/chain-fixture.js';
import { checkCommitCertificate } from './commit-certificate.js';

let net: TestNetwork;

beforeAll(async () => {
  net = await makeTestNetwork({ orderers: 4 });
});

describe('checkCommitCertificate and learners', () => {
  it('counts only voting orderers: a learner neither signs for the quorum nor sets its size', () => {
    const { block, commitCertificate } = certifiedBlock(net, genesisHead(net), []);
    const keys = new CertificateKeyCache();
    // Four voters: the quorum is 3, and the certificate proves finality.
    expect(checkCommitCertificate(commitCertificate, block.header, net.config.orderers, keys)).toBeNull();

    // One of the signers is a learner: its signature is not a voter's.
    const signers = commitCertificate.signatures.map((sig) => sig.signer as string);
    const learner = signers[signers.length - 1]!;
    const withLearner = net.config.orderers.map((o) =>
      o.name === learner ? { ...o, learner: true as const } : o,
    );
    expect(checkCommitCertificate(commitCertificate, block.header, withLearner, keys)).toMatch(
      new RegExp(`signer ${learner} is not a voting orderer`),
    );
    // Without it, the voters' signatures are counted against the quorum of three voters (2).
    const voters = commitCertificate.signatures.filter((sig) => sig.signer !== learner);
    expect(
      checkCommitCertificate({ ...commitCertificate, signatures: voters }, block.header, withLearner, keys),
    ).toBeNull();
    expect(
      checkCommitCertificate(
        { ...commitCertificate, signatures: voters.slice(0, 1) },
        block.header,
        withLearner,
        keys,
      ),
    ).toBe('1 valid signatures, a quorum of 3 orderers needs 2');
  });
});
