import { createServer } from 'node:net';

/**
 * Asks the kernel for a free TCP port on a loopback `host`. The port is free when this
 * resolves; another process could take it before the caller binds it, which is acceptable for
 * local networks, benchmarks and tests (never used for production listeners).
 */
export async function freeLoopbackPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      probe.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error(`port probe on ${host} returned no address`));
      });
    });
  });
}
