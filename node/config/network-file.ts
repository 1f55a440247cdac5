import { readFile, stat } from 'node:fs/promises';
import YAML from 'yaml';
import { z } from 'zod';
import {
  approvalSchema,
  blockHash,
  buildGenesisBlock,
  configTxId,
  CONFIG_BYTES_MAX,
  identitySchema,
  networkConfigSchema,
  parseWith,
  ProtocolError,
  PROTOCOL_VERSION,
  SIGNATURES_MAX,
  signatureSchema,
  timestampMsSchema,
  versionSchema,
  type Block,
  type Envelope,
  type Hash,
  type NetworkConfig,
} from '../protocol/index.js';
import { ConfigError } from './errors.js';
import { approvalProblems, configProblems } from './validate.js';

/** network.yaml is the genesis block in a form people can read and diff. */
export const NETWORK_FILE_BYTES_MAX = 2 * CONFIG_BYTES_MAX;
/** YAML aliases can expand exponentially ("billion laughs"); a config needs few if any. */
const YAML_ALIASES_MAX = 16;

export const networkFileSchema = z
  .object({
    version: versionSchema,
    createdAtMs: timestampMsSchema,
    config: networkConfigSchema,
    genesis: z
      .object({
        creator: identitySchema,
        approvals: z.array(approvalSchema).min(1).max(SIGNATURES_MAX),
        signature: signatureSchema,
      })
      .strict(),
  })
  .strict();

export type NetworkFile = z.infer<typeof networkFileSchema>;

export interface LoadedNetwork {
  readonly path: string;
  readonly config: NetworkConfig;
  readonly genesis: Block;
  readonly genesisHash: Hash;
}

export function networkFileFromGenesis(genesis: Block): NetworkFile {
  const envelope = genesis.transactions[0];
  if (genesis.header.height !== 0 || envelope?.payload.type !== 'config') {
    throw new ConfigError(
      'CONFIG_INVALID',
      'not a genesis block: height 0 with one config transaction expected',
    );
  }
  const { creator, config, approvals } = envelope.payload;
  return {
    version: PROTOCOL_VERSION,
    createdAtMs: genesis.header.timestampMs,
    config,
    genesis: { creator, approvals, signature: envelope.signature },
  };
}

export function genesisFromNetworkFile(file: NetworkFile): Block {
  const { creator, approvals, signature } = file.genesis;
  const envelope: Envelope = {
    payload: {
      version: PROTOCOL_VERSION,
      type: 'config',
      txId: configTxId(creator, file.config),
      creator,
      config: file.config,
      approvals,
    },
    signature,
  };
  return buildGenesisBlock(envelope, file.createdAtMs);
}

export function renderNetworkFile(genesis: Block): string {
  const file = networkFileFromGenesis(genesis);
  const doc = new YAML.Document(file);
  doc.commentBefore =
    ' Chainnode network configuration: the content of the genesis block, signed by the admins\n' +
    ' of the organisations. Any edit invalidates the signatures; change a running network with\n' +
    ' config transactions instead.';
  return doc.toString({ lineWidth: 0 });
}

/**
 * Reads and fully validates network.yaml: syntax, schema, cross-references, every node
 * certificate against its org CA, and the admins' signatures under the admin policy.
 */
export async function loadNetworkFile(path: string, options: { at?: Date } = {}): Promise<LoadedNetwork> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > NETWORK_FILE_BYTES_MAX) {
      throw new ConfigError(
        'CONFIG_READ',
        `${path} is ${info.size} bytes, over the ${NETWORK_FILE_BYTES_MAX}-byte limit`,
      );
    }
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    throw new ConfigError('CONFIG_READ', `cannot read ${path}: ${(cause as Error).message}`, [], { cause });
  }
  return parseNetworkFile(text, path, options.at);
}

/**
 * `at` defaults to the genesis' own creation time: the genesis must have been valid when it was
 * made. Whether the configuration in force now (genesis plus updates, whose certificates are
 * renewed over time) is valid now is loadLatestConfig's check.
 */
export function parseNetworkFile(text: string, path: string, atOrCreation?: Date): LoadedNetwork {
  let raw: unknown;
  try {
    raw = YAML.parse(text, { maxAliasCount: YAML_ALIASES_MAX, prettyErrors: true, uniqueKeys: true });
  } catch (cause) {
    throw new ConfigError('CONFIG_SYNTAX', `${path} is not valid YAML: ${(cause as Error).message}`, [], {
      cause,
    });
  }
  // YAML escapes can spell a lone surrogate, which no canonical (signed, hashed) encoding carries.
  const lone = loneSurrogateField(raw, 'network');
  if (lone !== undefined) {
    const cause = new ProtocolError(
      'PROTOCOL_MALFORMED',
      `${lone}: is not well-formed Unicode (it contains a lone surrogate)`,
      lone,
    );
    throw new ConfigError('CONFIG_SCHEMA', `${path}: ${cause.message}`, [], { cause });
  }
  let file: NetworkFile;
  try {
    file = parseWith(networkFileSchema, raw, 'network');
  } catch (cause) {
    if (!(cause instanceof ProtocolError)) throw cause;
    throw new ConfigError('CONFIG_SCHEMA', `${path}: ${cause.message}`, [], { cause });
  }
  const at = atOrCreation ?? new Date(file.createdAtMs);
  const genesis = genesisFromNetworkFile(file);
  const envelope = genesis.transactions[0] as Envelope;
  const problems = [
    ...configProblems(file.config, at),
    ...approvalProblems(envelope, file.config, file.config.policies.admin, at).map((p) => `genesis.${p}`),
  ];
  if (problems.length > 0)
    throw new ConfigError('CONFIG_INVALID', `${path} is not a valid network configuration`, problems);
  return { path, config: file.config, genesis, genesisHash: blockHash(genesis.header) };
}

/** The dotted path of the first key or string holding a lone surrogate, if any; iterative. */
function loneSurrogateField(root: unknown, what: string): string | undefined {
  const stack: [unknown, string][] = [[root, what]];
  while (stack.length > 0) {
    const [value, at] = stack.pop() as [unknown, string];
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) return at;
    } else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        if (LONE_SURROGATE.test(key)) return at;
        stack.push([child, `${at}.${key}`]);
      }
    }
  }
  return undefined;
}

const LONE_SURROGATE = /\p{Surrogate}/u;
