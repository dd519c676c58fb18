import path from 'node:path';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { ConfigError, CryptoError } from '@phalanx/interface';
import type { NodeId, Signer, SignatureScheme, Verifier } from '@phalanx/interface';
import type { KeyProvider } from './stub-crypto.js';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { simulate, formatSeed } from './simulator.js';
import type { SimOptions, SimResult } from './simulator.js';
import type { SimAdapter } from './types.js';

export interface RunSeedsOptions extends Omit<SimOptions, 'seed' | 'trace'> {
  /** Seeds to run: a count (seedBase, seedBase+1, …) or an explicit list. */
  readonly seeds: number | readonly (bigint | number)[];
  readonly seedBase?: bigint | number;
  /** Stop after this many failing seeds. Default 1. */
  readonly maxFailures?: number;
  /** Trace lines shown for a failure. Default 60. */
  readonly traceLines?: number;
}

export interface SeedsReport {
  readonly runs: number;
  /** Failing runs, each re-run with tracing on (so `trace` holds the last events). */
  readonly failures: readonly SimResult[];
  readonly deliveries: number;
  readonly events: number;
  readonly commits: number;
  /** States installed by state transfer (`Ready.restore`), over all runs. */
  readonly restores: number;
  readonly virtualMs: number;
}

/**
 * Runs many seeds fast (tracing off) and re-runs each failing seed with tracing on, which is
 * possible because a run is a pure function of its seed.
 */
export function runSeeds<M, C>(adapter: SimAdapter<M, C>, options: RunSeedsOptions): SeedsReport {
  const list: bigint[] =
    typeof options.seeds === 'number'
      ? Array.from({ length: options.seeds }, (_, i) => BigInt.asUintN(64, BigInt(options.seedBase ?? 1) + BigInt(i)))
      : options.seeds.map((s) => BigInt.asUintN(64, BigInt(s)));
  const failures: SimResult[] = [];
  let deliveries = 0;
  let events = 0;
  let commits = 0;
  let restores = 0;
  let virtualMs = 0;
  let runs = 0;
  for (const seed of list) {
    const r = simulate(adapter, { ...options, seed, trace: false });
    runs++;
    deliveries += r.stats.deliveries;
    events += r.stats.events;
    commits += r.stats.commits;
    restores += r.stats.restores;
    virtualMs += r.stats.virtualMs;
    if (!r.ok) {
      const traced = simulate(adapter, { ...options, seed, trace: true, traceLimit: options.traceLines ?? 60 });
      const same = traced.violations[0]?.message === r.violations[0]?.message;
      // A seed that does not reproduce means something in the run is not a function of the seed
      // (usually a core reading a clock, Math.random, or iteration order of unordered state).
      failures.push(
        same
          ? traced
          : {
              ...traced,
              ok: false,
              violations: [
                ...r.violations,
                { checker: 'robustness', time: 0, message: `NOT REPRODUCIBLE: re-running seed ${formatSeed(seed)} gave ${traced.violations.length} violation(s) instead` },
              ],
            },
      );
      if (failures.length >= (options.maxFailures ?? 1)) break;
    }
  }
  return { runs, failures, deliveries, events, commits, restores, virtualMs };
}

/** The failure report: ONE replay line first, then what broke, then the last events. */
export function formatFailure(r: SimResult): string {
  const lines = [
    `replay: ${r.replay}`,
    `seed ${formatSeed(r.seed)} faults=${r.faults} n=${r.n}: ${r.violations.length} violation(s)`,
    ...r.violations.slice(0, 10).map((v) => `  [${v.checker}] t=${v.time.toFixed(3)}ms ${v.message}`),
    `last ${r.trace.length} events (trace sha256 ${r.traceHash.slice(0, 16)}):`,
    ...r.trace.map((l) => `  ${l}`),
  ];
  return lines.join('\n');
}

/** Accepts 0x-prefixed hex or decimal; anything else is a `ConfigError` with `path` (the option it came from). */
export function parseSeed(text: string, path = 'seed'): bigint {
  const t = text.trim();
  if (!/^(0x[0-9a-fA-F]{1,16}|[0-9]{1,20})$/.test(t)) throw new ConfigError(path, `not a seed: "${text}" (use 0x… hex or decimal)`);
  return BigInt.asUintN(64, BigInt(t));
}

function isAdapter(x: unknown): x is SimAdapter<unknown, unknown> {
  return typeof x === 'object' && x !== null && 'definition' in x && typeof (x as { config?: unknown }).config === 'function';
}

/**
 * Finds a protocol's adapter: the `simulation` export of `@phalanx/<name>` (or of the module at
 * `modulePath`). Falls back to the workspace's `packages/<name>/dist/index.js`, so the CLI works
 * from the repo root without the sim package depending on every protocol. When none loads: a
 * `ConfigError` (path `protocol`, or `module`) listing what was tried.
 */
export async function loadAdapter(name: string, modulePath?: string): Promise<SimAdapter<unknown, unknown>> {
  const tried: string[] = [];
  const candidates: string[] = [];
  if (modulePath) candidates.push(pathToFileURL(path.resolve(modulePath)).href);
  else {
    candidates.push(`@phalanx/${name}`);
    const here = path.dirname(fileURLToPath(import.meta.url));
    const local = path.resolve(here, '../../', name, 'dist/index.js');
    if (existsSync(local)) candidates.push(pathToFileURL(local).href);
  }
  for (const spec of candidates) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(spec)) as Record<string, unknown>;
    } catch (err) {
      tried.push(`${spec}: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    const adapter = mod['simulation'];
    if (isAdapter(adapter)) return adapter;
    tried.push(`${spec}: no \`simulation\` export with { definition, config }`);
  }
  throw new ConfigError(modulePath ? 'module' : 'protocol', `cannot load ${JSON.stringify(modulePath ?? name)}:\n  ${tried.join('\n  ')}`);
}

/** The slice of @phalanx/crypto `realKeys` uses (imported dynamically: sim does not depend on it). */
interface CryptoModule {
  SCHEME_SIZES: Record<string, { secret: number }>;
  generateKeyPair(scheme: SignatureScheme, options: { seed: Uint8Array }): { secretKey: Uint8Array };
  signerFromSecret(secretKey: Uint8Array): Signer;
  verifier: Verifier;
}

async function importWorkspace(name: string): Promise<Record<string, unknown>> {
  try {
    return (await import(`@phalanx/${name}`)) as Record<string, unknown>;
  } catch {
    const here = path.dirname(fileURLToPath(import.meta.url));
    return (await import(pathToFileURL(path.resolve(here, '../../', name, 'dist/index.js')).href)) as Record<string, unknown>;
  }
}

/**
 * Real signatures from @phalanx/crypto (e.g. 'ed25519', 'ml-dsa-44'), with keys derived from each
 * replica id so runs stay reproducible. Slower than `createStubKeys` by two orders of magnitude.
 * A scheme @phalanx/crypto does not have is a `CryptoError`.
 */
export async function realKeys(scheme: SignatureScheme): Promise<KeyProvider> {
  const c = (await importWorkspace('crypto')) as unknown as CryptoModule;
  const size = c.SCHEME_SIZES[scheme]?.secret;
  if (size === undefined) throw new CryptoError(`@phalanx/crypto has no scheme "${scheme}"`);
  const signers = new Map<NodeId, Signer>();
  return {
    verifier: c.verifier,
    signer(id: NodeId): Signer {
      let sg = signers.get(id);
      if (!sg) {
        const seed = new Uint8Array(size);
        for (let off = 0, i = 0; off < size; i++, off += 32) {
          seed.set(createHash('sha256').update(`phalanx-sim-key/${scheme}/${id}/${i}`).digest().subarray(0, size - off), off);
        }
        sg = c.signerFromSecret(c.generateKeyPair(scheme, { seed }).secretKey);
        signers.set(id, sg);
      }
      return sg;
    },
  };
}
