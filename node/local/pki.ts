import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateWithKey } from '../../certs/index.js';
import { caDir } from '../config/index.js';

/** Certificates issued by the local shortcuts last as long as `network init`'s. */
export const LOCAL_VALIDITY_DAYS = 365;

/** The SANs a local node's certificate carries for `host`, as `network init` issues them. */
export function sansFor(host: string): { dnsNames: string[]; ipAddresses: string[] } {
  const isIp = /^[0-9.]+$/.test(host) || host.includes(':');
  return isIp
    ? { dnsNames: ['localhost'], ipAddresses: [host] }
    : { dnsNames: [host, 'localhost'], ipAddresses: ['127.0.0.1'] };
}

export async function readCa(dir: string, org: string): Promise<CertificateWithKey> {
  const path = caDir(dir, org);
  try {
    return {
      certPem: await readFile(join(path, 'cert.pem'), 'utf8'),
      keyPem: await readFile(join(path, 'key.pem'), 'utf8'),
    };
  } catch (e) {
    throw new Error(`cannot read the CA of ${org} in ${path}: ${(e as Error).message}`);
  }
}

/**
 * Writes a certificate and key as `network init` does (directory 0700, key 0600), refusing to
 * replace an existing identity.
 */
export async function writeIdentityFiles(path: string, certPem: string, keyPem: string): Promise<void> {
  if (existsSync(join(path, 'key.pem')))
    throw new Error(`identity files already exist in ${path}; refusing to replace them`);
  await mkdir(path, { recursive: true, mode: 0o700 });
  await writeFile(join(path, 'cert.pem'), certPem, { mode: 0o644 });
  await writeFile(join(path, 'key.pem'), keyPem, { mode: 0o600, flag: 'wx' });
  await chmod(join(path, 'key.pem'), 0o600);
}

/** Replaces a certificate file atomically (the key stays). */
/** Replaces a node's key and certificate (each written aside, then renamed over the old one). */
export async function replaceKeyFiles(path: string, certPem: string, keyPem: string): Promise<void> {
  const key = join(path, 'key.pem');
  const tmp = `${key}.${process.pid}.tmp`;
  await writeFile(tmp, keyPem, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, key);
  await replaceCertFile(path, certPem);
}

export async function replaceCertFile(path: string, certPem: string): Promise<void> {
  const file = join(path, 'cert.pem');
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, certPem, { mode: 0o644 });
  await rename(tmp, file);
}
