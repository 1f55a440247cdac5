/** The subset of pino's API the transport uses, so a pino logger can be passed as is. */
export interface TransportLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

const ignore = (): void => undefined;

export const silentLogger: TransportLogger = { info: ignore, warn: ignore, error: ignore, debug: ignore };

/** Timers as a function that returns its own cancel, so tests can drive time without Node handles. */
export interface TransportTimers {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): () => void;
}

export const systemTimers: TransportTimers = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => {
    const handle = setTimeout(callback, delayMs);
    return () => {
      clearTimeout(handle);
    };
  },
};
