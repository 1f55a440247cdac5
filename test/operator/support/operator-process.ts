import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const MAIN = join(import.meta.dirname, '../../../operator/main.ts');
const LOG_LINES_MAX = 10_000;

export interface OperatorLogLine {
  readonly msg?: string;
  readonly time?: number;
  readonly [field: string]: unknown;
}

/** An operator replica as a child process (what the Deployment's container runs), with its JSON logs. */
export class OperatorProcess {
  readonly lines: OperatorLogLine[] = [];
  readonly stderr: string[] = [];
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<number | null>;

  private constructor(
    readonly identity: string,
    readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line) as OperatorLogLine);
      } catch {
        this.lines.push({ msg: line });
      }
      if (this.lines.length > LOG_LINES_MAX) this.lines.shift();
      for (const wake of this.waiters) wake();
    });
    createInterface({ input: child.stderr! }).on('line', (line) => this.stderr.push(line));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        for (const wake of this.waiters) wake();
        resolve(code);
      }),
    );
  }

  static start(identity: string, env: Record<string, string>): OperatorProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      env: { ...process.env, METRICS_PORT: '0', LOG_LEVEL: 'info', POD_NAME: identity, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new OperatorProcess(identity, child);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  has(predicate: (l: OperatorLogLine) => boolean): boolean {
    return this.lines.some(predicate);
  }

  waitFor(
    predicate: (l: OperatorLogLine) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<OperatorLogLine> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.lines.find(predicate);
        if (hit !== undefined) {
          finish();
          resolve(hit);
          return true;
        }
        if (!this.running) {
          finish();
          reject(
            new Error(
              `operator ${this.identity} exited before ${what}; stderr: ${this.stderr.slice(-10).join(' | ')}`,
            ),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new Error(
            `operator ${this.identity}: no ${what} within ${timeoutMs} ms; last: ${JSON.stringify(this.lines.slice(-5))}`,
          ),
        );
      }, timeoutMs);
      const wake = (): void => void check();
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
      };
      if (!check()) this.waiters.add(wake);
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }
}
