import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const MAIN = join(import.meta.dirname, '../../node/cli/main.ts');
/** Log lines kept in memory per process, for excerpts in a report; the file has them all. */
const RECENT_LINES = 2_000;

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * One run of `chainnode node start` as a child process: stdout and stderr go, whole, to
 * `<logDir>/<name>.<run>.log`; the last lines stay in memory for reports; `expectExit` marks an
 * exit the runner caused, so any other exit is a crash.
 */
export class NodeProcess {
  readonly recent: string[] = [];
  readonly exited: Promise<ExitStatus>;
  readonly logFile: string;
  /** Set by the runner before it kills or stops this process. */
  expectExit = false;
  /** Called once, with the first line logged at level fatal (pino 60): the node gave up on something. */
  onFatal: ((line: string) => void) | undefined;
  private fatalSeen = false;
  private exitStatus: ExitStatus | undefined;
  private readonly waiters = new Set<(line: string | undefined) => void>();
  private readonly log: WriteStream;
  private readonly child: ChildProcess;

  constructor(
    readonly name: string,
    readonly run: number,
    args: readonly string[],
    env: Record<string, string>,
    logDir: string,
  ) {
    this.logFile = join(logDir, `${name}.${run}.log`);
    this.log = createWriteStream(this.logFile, { flags: 'a' });
    this.child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      env: { ...process.env, ...env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onLine = (line: string): void => {
      this.log.write(line + '\n');
      this.recent.push(line);
      if (this.recent.length > RECENT_LINES) this.recent.shift();
      for (const wake of this.waiters) wake(line);
      if (!this.fatalSeen && line.startsWith('{"level":60')) {
        this.fatalSeen = true;
        this.onFatal?.(line);
      }
    };
    if (this.child.stdout !== null) createInterface({ input: this.child.stdout }).on('line', onLine);
    if (this.child.stderr !== null) {
      createInterface({ input: this.child.stderr }).on('line', (line) => {
        onLine(`[stderr] ${line}`);
      });
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        for (const wake of this.waiters) wake(undefined);
        // Let the last lines reach the file before it closes.
        setTimeout(() => {
          this.log.end();
        }, 200);
        resolve(this.exitStatus);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  get status(): ExitStatus | undefined {
    return this.exitStatus;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** The first log line (from now on) that contains `text`; rejects on exit or after `timeoutMs`. */
  waitForLine(text: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`${this.name}: no "${text}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const wake = (line: string | undefined): void => {
        if (line === undefined) {
          clearTimeout(timer);
          this.waiters.delete(wake);
          reject(new Error(`${this.name} exited (${describeExit(this.exitStatus)}) before "${text}"`));
        } else if (line.includes(text)) {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        }
      };
      if (!this.running) wake(undefined);
      else this.waiters.add(wake);
    });
  }

  /** Sends `signal` (marking the exit as expected) and waits up to `timeoutMs` for the exit. */
  async stop(signal: NodeJS.Signals, timeoutMs = 30_000): Promise<ExitStatus | undefined> {
    this.expectExit = true;
    if (!this.running) return this.exitStatus;
    this.signal('SIGCONT');
    this.signal(signal);
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.exited,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => {
          resolve(undefined);
        }, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return result;
  }

  /** The last `lines` log lines, without the per-block "peer status" chatter. */
  excerpt(lines = 30): string {
    return this.recent
      .filter((l) => !l.includes('"msg":"peer status"'))
      .slice(-lines)
      .join('\n');
  }
}

export function describeExit(status: ExitStatus | undefined): string {
  if (status === undefined) return 'running';
  return status.signal !== null ? `signal ${status.signal}` : `code ${String(status.code)}`;
}
