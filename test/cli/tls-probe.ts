import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';

/** How long a TLS handshake with a local node may take before the probe gives up. */
const HANDSHAKE_TIMEOUT_MS = 5_000;

/**
 * The SHA-256 fingerprint of the certificate a node presents on host:port (its node port or its
 * API port), read from a real TLS 1.3 handshake. The probe shows `identity` (an organisation's
 * user) as its client certificate; the node may refuse it once the handshake is done (it is not a
 * member), which does not matter: the node's certificate has been presented by then.
 */
export function presentedFingerprint(
  host: string,
  port: number,
  identity: { certPem: string; keyPem: string },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      cert: identity.certPem,
      key: identity.keyPem,
      minVersion: 'TLSv1.3',
      // Which certificate it presents is the question, not whether we trust it.
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake with ${host}:${port} within ${HANDSHAKE_TIMEOUT_MS} ms`));
    }, HANDSHAKE_TIMEOUT_MS);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert === undefined) reject(new Error(`${host}:${port} presented no certificate`));
      else resolve(cert.fingerprint256);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`TLS handshake with ${host}:${port} failed: ${e.message}`, { cause: e }));
    });
  });
}

export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}
