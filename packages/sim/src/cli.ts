#!/usr/bin/env node
/**
 * `pnpm sim --protocol <name> --seeds 1000 --faults <profile>` sweeps seeds;
 * `pnpm sim --protocol <name> --seed 0x… --faults <profile>` replays one and prints its trace.
 */
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { PROFILES, assertProfile } from './scenario.js';
import { simulate, formatSeed } from './simulator.js';
import { runSeeds, formatFailure, parseSeed, loadAdapter, realKeys } from './runner.js';
import { ConfigError } from '@phalanx/interface';
import type { SignatureScheme } from '@phalanx/interface';
import type { SimAdapter } from './types.js';

const USAGE = `usage: pnpm sim (--protocol <name> | --module <file.js>) [options]
  --protocol <name>    imports @phalanx/<name> and uses its \`simulation\` export
  --module <file.js>   any ES module exporting \`simulation\` (e.g. a test fixture)
  --faults <profile>   ${Object.keys(PROFILES).join(' | ')} (default none);
                       compose with +, e.g. lossy+crash-restart
  --seeds <count>      seeds to sweep (default 100)
  --seed-base <seed>   first seed of the sweep: 0x… | decimal | random (default 1)
  --seed <seed>        replay ONE seed (0x… or decimal) and print its trace
  --n <replicas>       default 4
  --trace-lines <k>    trace lines shown for a failure (default 60)
  --max-failures <k>   stop the sweep after k failing seeds (default 1)
  --crypto <scheme>    stub (default) | ed25519 | ml-dsa-44 | … (real keys from @phalanx/crypto)`;

interface Args {
  protocol?: string;
  module?: string;
  faults: string;
  seeds: number;
  seedBase: bigint;
  seed?: bigint;
  n: number;
  traceLines: number;
  maxFailures: number;
  crypto: string;
}

export function parseArgs(argv: readonly string[]): Args {
  const out: Args = { faults: 'none', seeds: 100, seedBase: 1n, n: 4, traceLines: 60, maxFailures: 1, crypto: 'stub' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new ConfigError(flag, 'needs a value');
      return v;
    };
    const int = (min: number): number => {
      const v = value();
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(flag, `expected an integer >= ${min}, got "${v}"`);
      return n;
    };
    switch (flag) {
      case '--protocol':
        out.protocol = value();
        break;
      case '--module':
        out.module = value();
        break;
      case '--faults':
        out.faults = value();
        assertProfile(out.faults);
        break;
      case '--seeds':
        out.seeds = int(1);
        break;
      case '--seed-base': {
        const v = value();
        out.seedBase = v === 'random' ? randomBytes(8).readBigUInt64BE() : parseSeed(v, flag);
        break;
      }
      case '--seed':
        out.seed = parseSeed(value(), flag);
        break;
      case '--n':
        out.n = int(1);
        break;
      case '--trace-lines':
        out.traceLines = int(0);
        break;
      case '--max-failures':
        out.maxFailures = int(1);
        break;
      case '--crypto':
        out.crypto = value();
        break;
      case '--help':
      case '-h':
        // Not a mistake: `main` prints the usage this carries (exit code 2, as for one).
        throw new Error(USAGE);
      default:
        throw new ConfigError(flag, `unknown option\n${USAGE}`);
    }
  }
  if (!out.protocol && !out.module) throw new ConfigError('--protocol', `required (or --module)\n${USAGE}`);
  return out;
}

/** Runs the CLI; returns the exit code. `adapter` short-circuits loading (tests). */
export async function main(
  argv: readonly string[],
  print: (line: string) => void = (l) => console.log(l),
  adapter?: SimAdapter<unknown, unknown>,
): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    print((err as Error).message);
    return 2;
  }
  const name = args.protocol ?? args.module!;
  const sim = adapter ?? (await loadAdapter(args.protocol ?? 'module', args.module));
  const keys = args.crypto === 'stub' ? undefined : await realKeys(args.crypto as SignatureScheme);
  const common = {
    ...(keys ? { keys } : {}),
    faults: args.faults,
    n: args.n,
    protocolName: args.protocol ?? sim.definition.name,
    replaySelector: `${args.protocol ? `--protocol ${args.protocol}` : `--module ${args.module}`}${args.crypto !== 'stub' ? ` --crypto ${args.crypto}` : ''}`,
  };
  if (args.seed !== undefined) {
    const r = simulate(sim, { ...common, seed: args.seed, trace: true, traceLimit: args.traceLines });
    if (r.ok) {
      print(`ok: ${name} seed ${formatSeed(r.seed)} faults=${r.faults} n=${r.n}: ${r.stats.commits} commits, ${r.stats.deliveries} deliveries, ${r.stats.virtualMs.toFixed(0)} ms virtual (trace sha256 ${r.traceHash})`);
      for (const l of r.trace) print(`  ${l}`);
      return 0;
    }
    print(formatFailure(r));
    return 1;
  }
  const t0 = performance.now();
  const rep = runSeeds(sim, { ...common, seeds: args.seeds, seedBase: args.seedBase, maxFailures: args.maxFailures, traceLines: args.traceLines });
  const secs = (performance.now() - t0) / 1000;
  for (const f of rep.failures) print(formatFailure(f));
  print(
    `${rep.failures.length === 0 ? 'ok' : 'FAILED'}: ${name} faults=${args.faults} n=${args.n}: ${rep.runs} seed(s) from ${formatSeed(args.seedBase)}, ` +
      `${rep.failures.length} failure(s), ${rep.deliveries} deliveries in ${secs.toFixed(1)} s (${Math.round(rep.deliveries / Math.max(secs, 1e-9))}/s)`,
  );
  return rep.failures.length === 0 ? 0 : 1;
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(entry).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error((err as Error).message);
      process.exitCode = 2;
    },
  );
}
