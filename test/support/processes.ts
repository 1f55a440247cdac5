import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const runFile = promisify(execFile);

const MAIN = join(import.meta.dirname, '../../node/cli/main.ts');
/** Lines kept per process for assertions and for failure messages. */
const LOG_LINES_MAX = 5_000;

export interface LogLine {
  readonly msg?: string;
  readonly [field: string]: unknown;
}

/** A `chainnode` child process whose JSON log lines are collected and can be awaited. */
export class ChainnodeProcess {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly label: string,
    readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        parsed = { msg: line, raw: true };
      }
      this.lines.push(parsed);
      if (this.lines.length > LOG_LINES_MAX) this.lines.shift();
      for (const wake of this.waiters) wake();
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      this.stderr.push(line);
      for (const wake of this.waiters) wake();
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        for (const wake of this.waiters) wake();
        resolve({ code, signal });
      });
    });
  }

  static start(label: string, args: readonly string[], env: Record<string, string> = {}): ChainnodeProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      env: { ...process.env, ...env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new ChainnodeProcess(label, child);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first log line matching `predicate`; rejects after `timeoutMs` or if the process exits first. */
  waitFor(
    predicate: (line: LogLine) => boolean,
    timeoutMs = 30_000,
    what = 'a matching log line',
  ): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.lines.find(predicate);
        if (hit !== undefined) {
          done();
          resolve(hit);
          return true;
        }
        if (!this.running) {
          done();
          reject(
            new Error(`${this.label} exited before ${what}; stderr: ${this.stderr.slice(-5).join(' | ')}`),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `${this.label}: no ${what} within ${timeoutMs} ms; last lines: ${JSON.stringify(this.lines.slice(-5))}`,
          ),
        );
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
      };
      const wake = (): void => {
        check();
      };
      if (!check()) this.waiters.add(wake);
    });
  }

  count(predicate: (line: LogLine) => boolean): number {
    return this.lines.filter(predicate).length;
  }

  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }
}

/** A loopback address and port range no other test run is likely to use at the same time. */
export function randomLoopback(): { host: string; basePort: number } {
  const octet = () => 2 + Math.floor(Math.random() * 250);
  return { host: `127.${octet()}.${octet()}.1`, basePort: 20_000 + Math.floor(Math.random() * 400) * 100 };
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `chainnode ARGS` to completion as a user would: a child process, its exit code and both streams. */
export async function runChainnode(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await runFile(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      env: { ...process.env, ...env, FORCE_COLOR: '0' },
      timeout: 180_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === 'number' ? err.code : -1,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    };
  }
}
