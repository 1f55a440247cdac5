import { SigningKey } from '../crypto/index.js';
import { canonicalBytes, sha256, SigningDomain } from '../protocol/index.js';
import { cpuSecondsSince, ratePerSec } from './stats.js';

export interface CryptoBenchResult {
  readonly signPerSec: number;
  readonly verifyPerSec: number;
  readonly sha256MbPerSec: number;
  readonly cpuSeconds: number;
}

/** Single-thread ECDSA P-256 sign/verify and SHA-256 throughput on node:crypto. */
export function benchCrypto(options: { operations?: number } = {}): CryptoBenchResult {
  const operations = options.operations ?? 20_000;
  const key = SigningKey.generate();
  const pub = key.verifyingKey;
  // A realistic message: the canonical bytes of a small proposal-sized object.
  const messages = Array.from({ length: 256 }, (_, i) =>
    canonicalBytes({ contract: 'kv', fn: 'put', args: [`key-${i}`, 'x'.repeat(64)], nonce: i }),
  );
  const cpu = process.cpuUsage();
  let start = process.hrtime.bigint();
  const signatures = [];
  for (let i = 0; i < operations; i++)
    signatures.push(key.sign(SigningDomain.proposal, messages[i % 256] as Buffer));
  const signNs = process.hrtime.bigint() - start;

  start = process.hrtime.bigint();
  let valid = 0;
  for (let i = 0; i < operations; i++) {
    if (pub.verify(SigningDomain.proposal, messages[i % 256] as Buffer, signatures[i] as string)) valid++;
  }
  const verifyNs = process.hrtime.bigint() - start;
  if (valid !== operations)
    throw new Error(`benchmark self-check failed: ${operations - valid} signatures did not verify`);

  const block = Buffer.alloc(1024 * 1024, 7);
  const hashRounds = 256;
  start = process.hrtime.bigint();
  for (let i = 0; i < hashRounds; i++) sha256(block);
  const hashNs = process.hrtime.bigint() - start;

  return {
    signPerSec: ratePerSec(operations, signNs),
    verifyPerSec: ratePerSec(operations, verifyNs),
    sha256MbPerSec: ratePerSec(hashRounds, hashNs),
    cpuSeconds: cpuSecondsSince(cpu),
  };
}
