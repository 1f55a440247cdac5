export type ConfigErrorCode =
  'CONFIG_READ' | 'CONFIG_SYNTAX' | 'CONFIG_SCHEMA' | 'CONFIG_INVALID' | 'CONFIG_EXISTS';

/** A configuration that cannot be used; `problems` lists every issue found, not only the first. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly code: ConfigErrorCode,
    message: string,
    readonly problems: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(
      problems.length === 0 ? message : `${message}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      options,
    );
  }
}
