import { createHash } from 'node:crypto';
import type { ConsensusCrypto } from '../../node/consensus/index.js';
import type { NodeName, SignatureHex, SigningDomain } from '../../node/protocol/index.js';

/**
 * Deterministic stand-in for ECDSA in the simulator: a "signature" is SHA-256 over the signer's
 * name, the domain and the bytes, doubled to the 128 hex characters the schemas require.
 * Honest and Byzantine cores only ever sign as themselves, so forging needs the sim's help,
 * exactly as forging ECDSA would.
 */
export function fakeSignature(signer: string, domain: SigningDomain, bytes: Uint8Array): SignatureHex {
  const hex = createHash('sha256')
    .update(signer)
    .update('\n')
    .update(domain)
    .update('\n')
    .update(bytes)
    .digest('hex');
  return (hex + hex) as SignatureHex;
}

export function fakeCrypto(self: NodeName): ConsensusCrypto {
  return {
    sign: (domain, bytes) => fakeSignature(self, domain, bytes),
    verify: (signer, domain, bytes, signature) => fakeSignature(signer, domain, bytes) === signature,
  };
}
