// The one place @peculiar/x509 is loaded: what it needs (the Reflect metadata polyfill its
// dependency tsyringe insists on, a WebCrypto provider in its process-wide registry) is set up
// here, before anything uses it. It is loaded with require() in the module body rather than a
// static import, so it is guaranteed to run after the polyfill whatever order a loader links in.
// Modules that need its types use `import type * as X509 from '@peculiar/x509'`.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as X509 from '@peculiar/x509';

const require = createRequire(import.meta.url);

export const x509 = require('@peculiar/x509') as typeof X509;

x509.cryptoProvider.set(webcrypto);
