/**
 * Progress display on stderr: one line when a step starts and one when it ends (with its time),
 * plus a ticking elapsed-time line while a long step runs when stderr is a terminal.
 */
import { performance } from 'node:perf_hooks';
import type { StepOutcome } from './report/markdown.js';

export class Progress {
  readonly outcomes: StepOutcome[] = [];
  private readonly t0 = performance.now();
  private ticker: NodeJS.Timeout | undefined;

  constructor(private readonly out: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr) {}

  private elapsed(since: number): string {
    return `${((performance.now() - since) / 1000).toFixed(1)} s`;
  }

  /** Total time since the run started, in seconds. */
  get seconds(): number {
    return (performance.now() - this.t0) / 1000;
  }

  line(text: string): void {
    this.clearTicker();
    this.out.write(`${text}\n`);
  }

  /** Passes through output of a child process (a running ticker line is wiped first). */
  raw(text: string): void {
    if (this.ticker) this.out.write('\r\x1b[2K');
    this.out.write(text);
  }

  /** Runs `fn` as a named step; a thrown error marks the step failed and is not rethrown. */
  async step<T>(name: string, fn: () => Promise<T> | T): Promise<T | undefined> {
    const start = performance.now();
    this.line(`▶ ${name}`);
    if (this.out.isTTY) {
      this.ticker = setInterval(() => this.out.write(`\r  … ${name} ${this.elapsed(start)}`), 500);
      this.ticker.unref();
    }
    try {
      const v = await fn();
      this.clearTicker();
      this.line(`✓ ${name} (${this.elapsed(start)})`);
      this.outcomes.push({ step: name, status: 'ok', seconds: (performance.now() - start) / 1000 });
      return v;
    } catch (e) {
      this.clearTicker();
      const msg = e instanceof Error ? e.message : String(e);
      this.line(`✗ ${name} failed after ${this.elapsed(start)}: ${msg}`);
      this.outcomes.push({ step: name, status: 'failed', detail: msg, seconds: (performance.now() - start) / 1000 });
      return undefined;
    }
  }

  /** Adds an outcome measured elsewhere (e.g. one package's benchmark inside a turbo run). */
  record(outcome: StepOutcome): void {
    const mark = outcome.status === 'ok' ? '✓' : outcome.status === 'skipped' ? '–' : '✗';
    const time = outcome.seconds !== undefined ? ` (${outcome.seconds.toFixed(1)} s)` : '';
    this.line(`  ${mark} ${outcome.step}${time}${outcome.detail ? `: ${outcome.detail}` : ''}`);
    this.outcomes.push(outcome);
  }

  skip(name: string, reason: string): void {
    this.line(`– ${name} skipped: ${reason}`);
    this.outcomes.push({ step: name, status: 'skipped', detail: reason });
  }

  fail(name: string, reason: string): void {
    this.line(`✗ ${name}: ${reason}`);
    this.outcomes.push({ step: name, status: 'failed', detail: reason });
  }

  private clearTicker(): void {
    if (this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
      this.out.write('\r\x1b[2K');
    }
  }
}
