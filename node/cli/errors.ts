/** One clear line (plus a config's list of problems) for a person; the stack only with --debug. */
export function errorLine(error: unknown, debug: boolean): string {
  if (!(error instanceof Error)) return `chainnode: ${String(error)}`;
  if (debug)
    return `chainnode: ${error.stack ?? error.message}${error.cause instanceof Error ? `\ncaused by: ${error.cause.stack ?? error.cause.message}` : ''}`;
  const code = (error as { code?: unknown }).code;
  return `chainnode: ${error.message}${typeof code === 'string' && !error.message.includes(code) ? ` [${code}]` : ''}`;
}
