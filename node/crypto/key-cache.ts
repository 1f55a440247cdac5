import { VerifyingKey } from './ecdsa.js';

/**
 * Parsing an X.509 certificate costs more than verifying one signature, and the same few
 * certificates sign almost everything, so verifiers look keys up here. Bounded: a flood of
 * distinct certificates evicts the least recently used entries instead of growing memory.
 */
export const CERT_KEY_CACHE_ENTRIES_MAX = 4096;

export class CertificateKeyCache {
  private readonly entries = new Map<string, VerifyingKey>();

  constructor(private readonly capacity: number = CERT_KEY_CACHE_ENTRIES_MAX) {}

  get(certPem: string): VerifyingKey {
    const hit = this.entries.get(certPem);
    if (hit !== undefined) {
      // Re-insert to mark as most recently used (Map keeps insertion order).
      this.entries.delete(certPem);
      this.entries.set(certPem, hit);
      return hit;
    }
    const key = VerifyingKey.fromCertificate(certPem);
    this.entries.set(certPem, key);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    return key;
  }

  get size(): number {
    return this.entries.size;
  }
}
