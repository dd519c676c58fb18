#!/usr/bin/env node
/** `pnpm bench` entry point. See `--help`. */
import { findRepoRoot } from '@phalanx/bench-kit';
import { parseArgs, USAGE, UsageError } from './args.js';
import { runBench } from './run.js';
import { Progress } from './progress.js';

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const progress = new Progress();
  const files = await runBench(args, findRepoRoot(process.cwd()), progress);
  // The report is always written; the exit code tells automation whether anything went wrong.
  const failed = progress.outcomes.filter((o) => o.status === 'failed');
  if (failed.length > 0) process.stderr.write(`${failed.length} step(s) failed: ${failed.map((f) => f.step).join('; ')}\n`);
  return files.problems.length > 0 || failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
