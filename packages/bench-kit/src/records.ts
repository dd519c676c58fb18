import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { outDir } from './env.js';
import type { LatencySummary } from './latency.js';

export type ParamValue = string | number | boolean;

/** The figure a measurement is compared with, measured in the same run (DESIGN §10). */
export interface Ceiling {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
}

/** One benchmark figure. A file of result parts is a JSON array of these. */
export interface BenchRecord {
  /** Groups figures in the report, e.g. `crypto/ed25519`, `cluster/memory`. */
  readonly suite: string;
  /** What was measured, e.g. `verify (native)`. Unique within (suite, params). */
  readonly name: string;
  readonly value: number;
  /** `ops/s`, `ms`, `MB/s`, `msgs/cmd`, `bytes/cmd` … */
  readonly unit: string;
  /** Everything that shapes the figure: sizes, n, protocol, transport, `stat` (p50/p90/p99/max) … */
  readonly params: Readonly<Record<string, ParamValue>>;
  /** The bound this figure is judged against, e.g. the unreplicated state machine rate. */
  readonly ceiling?: Ceiling;
  /** What the seed/design claims for this figure, shown beside it, e.g. `"7.8k/s (DESIGN §5)"`. */
  readonly claim?: string;
  readonly better: 'higher' | 'lower';
  /** Filled in by `writeRecords`: the package that produced the figure. */
  readonly package?: string;
}

/** A record file or entry that does not have the shape above. The message names the file and path. */
export class BenchRecordError extends Error {
  override readonly name = 'BenchRecordError';
  constructor(
    message: string,
    readonly source: string,
    readonly path: string,
  ) {
    super(`${source}${path ? ` ${path}` : ''}: ${message}`);
  }
}

const LOWER_UNITS = /^(ms|us|µs|ns|s|bytes?|B|KiB|MiB|msgs?\/cmd|bytes\/cmd|B\/cmd)$/i;

/** Guesses `better` from the unit for records written without it (latencies and costs: lower). */
export function inferBetter(unit: string): 'higher' | 'lower' {
  return LOWER_UNITS.test(unit.trim()) ? 'lower' : 'higher';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks one parsed JSON value and returns it as a `BenchRecord`. A missing `better` is inferred
 * from the unit (and listed in `notes`) so parts written before bench-kit existed still load.
 */
export function validateRecord(raw: unknown, source = 'record', at = '', notes?: string[]): BenchRecord {
  const fail = (msg: string, field = ''): never => {
    throw new BenchRecordError(msg, source, `${at}${field}`);
  };
  if (!isObject(raw)) return fail(`expected an object, got ${Array.isArray(raw) ? 'an array' : typeof raw}`);
  const str = (k: string): string => {
    const v = raw[k];
    if (typeof v !== 'string' || v.trim() === '') return fail(`"${k}" must be a non-empty string`, `.${k}`);
    return v;
  };
  const suite = str('suite');
  const name = str('name');
  const unit = str('unit');
  const value = raw.value;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    fail(`"value" must be a finite number, got ${JSON.stringify(value)}`, '.value');
  }
  const params: Record<string, ParamValue> = {};
  if (raw.params !== undefined) {
    if (!isObject(raw.params)) fail('"params" must be an object', '.params');
    for (const [k, v] of Object.entries(raw.params as Record<string, unknown>)) {
      if (typeof v !== 'string' && typeof v !== 'boolean' && !(typeof v === 'number' && Number.isFinite(v))) {
        fail(`must be a string, finite number or boolean, got ${JSON.stringify(v)}`, `.params.${k}`);
      }
      params[k] = v as ParamValue;
    }
  }
  let ceiling: Ceiling | undefined;
  if (raw.ceiling !== undefined && raw.ceiling !== null) {
    const c = raw.ceiling;
    if (!isObject(c)) return fail('"ceiling" must be an object {name, value, unit}', '.ceiling');
    if (typeof c.name !== 'string' || c.name === '') fail('must be a non-empty string', '.ceiling.name');
    if (typeof c.value !== 'number' || !Number.isFinite(c.value)) fail('must be a finite number', '.ceiling.value');
    if (typeof c.unit !== 'string' || c.unit === '') fail('must be a non-empty string', '.ceiling.unit');
    ceiling = { name: c.name as string, value: c.value as number, unit: c.unit as string };
  }
  if (raw.claim !== undefined && raw.claim !== null && typeof raw.claim !== 'string') {
    fail('"claim" must be a string', '.claim');
  }
  let better: 'higher' | 'lower';
  if (raw.better === 'higher' || raw.better === 'lower') better = raw.better;
  else if (raw.better === undefined) {
    better = inferBetter(unit);
    notes?.push(`${source} ${at}: no "better", assumed "${better}" from unit "${unit}"`);
  } else return fail(`"better" must be "higher" or "lower", got ${JSON.stringify(raw.better)}`, '.better');
  if (raw.package !== undefined && typeof raw.package !== 'string') fail('"package" must be a string', '.package');
  const rec: BenchRecord = {
    suite,
    name,
    value: value as number,
    unit,
    params,
    better,
    ...(ceiling ? { ceiling } : {}),
    ...(typeof raw.claim === 'string' ? { claim: raw.claim } : {}),
    ...(typeof raw.package === 'string' ? { package: raw.package } : {}),
  };
  return rec;
}

export interface ParsedRecords {
  readonly records: BenchRecord[];
  /** One message per bad entry (or one for the whole file when it is not a JSON array). */
  readonly errors: BenchRecordError[];
  readonly notes: string[];
}

/** Parses the text of a result-part file. Never throws: bad entries are skipped and reported. */
export function parseRecords(text: string, source: string): ParsedRecords {
  const notes: string[] = [];
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return { records: [], errors: [new BenchRecordError(`not valid JSON (${(e as Error).message})`, source, '')], notes };
  }
  if (!Array.isArray(data)) {
    return { records: [], errors: [new BenchRecordError('expected a JSON array of records', source, '')], notes };
  }
  const records: BenchRecord[] = [];
  const errors: BenchRecordError[] = [];
  data.forEach((raw, i) => {
    try {
      records.push(validateRecord(raw, source, `[${i}]`, notes));
    } catch (e) {
      if (e instanceof BenchRecordError) errors.push(e);
      else throw e;
    }
  });
  return { records, errors, notes };
}

/** `1234567` → `1.23M`, `0.000123` → `0.000123`; keeps three significant digits. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e9) return `${trim(v / 1e9)}G`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a === 0) return '0';
  return Number(v.toPrecision(3)).toString();
}

function trim(v: number): string {
  return Number(v.toPrecision(3)).toString();
}

/** Value divided by ceiling value, or undefined when units differ or the ceiling is zero. */
export function ratioToCeiling(r: BenchRecord): number | undefined {
  if (!r.ceiling || r.ceiling.value === 0 || r.ceiling.unit !== r.unit) return undefined;
  return r.value / r.ceiling.value;
}

export function paramsLabel(params: Readonly<Record<string, ParamValue>>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** The one-line progress message printed for each figure. */
export function formatRecordLine(r: BenchRecord): string {
  const p = paramsLabel(r.params);
  let line = `${r.suite} · ${r.name}${p ? ` [${p}]` : ''}: ${formatNumber(r.value)} ${r.unit}`;
  if (r.ceiling) {
    const ratio = ratioToCeiling(r);
    line += ` (ceiling ${r.ceiling.name} ${formatNumber(r.ceiling.value)} ${r.ceiling.unit}`;
    line += ratio !== undefined ? `, ×${formatNumber(ratio)})` : ')';
  }
  if (r.claim) line += ` — claim: ${r.claim}`;
  return line;
}

/** File name for a package's part: `@phalanx/codec` → `phalanx-codec.json`. */
export function partFileName(packageName: string): string {
  const safe = packageName.replace(/^@/, '').replace(/[^A-Za-z0-9._-]+/g, '-');
  if (safe === '' || safe === '.' || safe === '..') throw new RangeError(`bad package name ${JSON.stringify(packageName)}`);
  return `${safe}.json`;
}

export interface WriteOptions {
  /** Directory to write to; default `outDir()` ($PHALANX_BENCH_OUT or <repo root>/bench-results/parts). */
  readonly dir?: string;
  /** Print one progress line per figure on stderr. Default true. */
  readonly progress?: boolean;
}

/**
 * Validates `records`, stamps them with `package`, and writes them as a JSON array to
 * `<dir>/<package>.json` (atomically: temp file then rename). Returns the file path.
 */
export function writeRecords(packageName: string, records: readonly BenchRecord[], opts: WriteOptions = {}): string {
  const checked = records.map((r, i) => ({ ...validateRecord(r, packageName, `[${i}]`), package: packageName }));
  const dir = opts.dir ?? outDir();
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, partFileName(packageName));
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(checked, null, 2)}\n`);
  renameSync(tmp, file);
  if (opts.progress ?? true) {
    for (const r of checked) process.stderr.write(`  ${formatRecordLine(r)}\n`);
    process.stderr.write(`  → ${checked.length} figure(s) written to ${file}\n`);
  }
  return file;
}

export interface Recorder {
  /** Validates the record, prints its progress line now, and keeps it for `write`. */
  add(record: BenchRecord): BenchRecord;
  readonly records: readonly BenchRecord[];
  /** Writes everything added so far (see `writeRecords`), without printing the lines again. */
  write(opts?: Omit<WriteOptions, 'progress'>): string;
}

/** Collects figures as a long benchmark goes, printing each as soon as it is measured. */
export function createRecorder(packageName: string, opts: { progress?: boolean } = {}): Recorder {
  const list: BenchRecord[] = [];
  return {
    add(record) {
      const r = validateRecord(record, packageName, `[${list.length}]`);
      list.push(r);
      if (opts.progress ?? true) process.stderr.write(`  ${formatRecordLine(r)}\n`);
      return r;
    },
    get records() {
      return list;
    },
    write(o = {}) {
      const file = writeRecords(packageName, list, { ...o, progress: false });
      if (opts.progress ?? true) process.stderr.write(`  → ${list.length} figure(s) written to ${file}\n`);
      return file;
    },
  };
}

/** The percentile stats the report draws as latency bars. */
export const LATENCY_STATS = ['p50', 'p90', 'p99', 'max'] as const;

/**
 * Turns a latency summary into four records (`<name> p50` … `<name> max`, unit `ms`,
 * `params.stat` set), the shape the report groups into one latency-distribution chart.
 */
export function latencyRecords(
  base: { suite: string; name: string; params?: Record<string, ParamValue>; claim?: string; ceiling?: Ceiling },
  summary: LatencySummary,
): BenchRecord[] {
  return LATENCY_STATS.map((stat) => ({
    suite: base.suite,
    name: `${base.name} ${stat}`,
    value: summary[stat],
    unit: 'ms',
    params: { ...(base.params ?? {}), stat, samples: summary.count },
    better: 'lower' as const,
    ...(base.claim && stat === 'p50' ? { claim: base.claim } : {}),
    ...(base.ceiling ? { ceiling: base.ceiling } : {}),
  }));
}
