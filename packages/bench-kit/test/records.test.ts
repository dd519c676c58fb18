import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  writeRecords,
  createRecorder,
  parseRecords,
  validateRecord,
  latencyRecords,
  formatRecordLine,
  formatNumber,
  partFileName,
  ratioToCeiling,
  BenchRecordError,
  type BenchRecord,
} from '../src/records.js';
import { findRepoRoot, outDir, OUT_ENV } from '../src/env.js';

const tempDirs: string[] = [];
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(prefix: string): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

const verify: BenchRecord = {
  suite: 'crypto/ed25519',
  name: 'verify (native)',
  value: 7800,
  unit: 'ops/s',
  params: { msgBytes: 100 },
  ceiling: { name: 'verify (noble)', value: 650, unit: 'ops/s' },
  claim: '7.8k/s (DESIGN §5)',
  better: 'higher',
};

describe('writeRecords', () => {
  it('writes a JSON array stamped with the package to <dir>/<package>.json', () => {
    const dir = tempDir('bench-kit-');
    const file = writeRecords('@phalanx/crypto', [verify], { dir, progress: false });
    expect(file).toBe(path.join(dir, 'phalanx-crypto.json'));
    const back = JSON.parse(readFileSync(file, 'utf8'));
    expect(back).toEqual([{ ...verify, package: '@phalanx/crypto' }]);
    expect(readdirSync(dir)).toEqual(['phalanx-crypto.json']); // no temp file left behind
  });

  it('refuses an invalid record before writing anything', () => {
    const dir = tempDir('bench-kit-');
    const bad = { ...verify, value: Number.NaN };
    expect(() => writeRecords('@phalanx/crypto', [bad], { dir, progress: false })).toThrow(/\[0\]\.value/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a recorder keeps figures and writes them together', () => {
    const dir = tempDir('bench-kit-');
    const rec = createRecorder('@phalanx/x', { progress: false });
    rec.add(verify);
    rec.add({ ...verify, name: 'sign' });
    expect(() => rec.add({ ...verify, suite: '' })).toThrow(BenchRecordError);
    const back = JSON.parse(readFileSync(rec.write({ dir }), 'utf8'));
    expect(back.map((r: BenchRecord) => r.name)).toEqual(['verify (native)', 'sign']);
  });
});

describe('output directory', () => {
  it('uses PHALANX_BENCH_OUT when set, else <repo root>/bench-results/parts', () => {
    expect(outDir({ [OUT_ENV]: '/tmp/x' })).toBe('/tmp/x');
    const root = findRepoRoot(import.meta.dirname);
    expect(readdirSync(root)).toContain('pnpm-workspace.yaml');
    expect(outDir({}, import.meta.dirname)).toBe(path.join(root, 'bench-results', 'parts'));
  });
  it('names the problem when there is no workspace above', () => {
    const lone = tempDir('bench-kit-lone-');
    expect(() => findRepoRoot(lone)).toThrow(/pnpm-workspace\.yaml/);
  });
  it('turns package names into safe file names', () => {
    expect(partFileName('@phalanx/codec')).toBe('phalanx-codec.json');
    expect(partFileName('plain')).toBe('plain.json');
    expect(() => partFileName('..')).toThrow(RangeError);
  });
});

describe('parseRecords / validateRecord', () => {
  it('reports each malformed entry with its file and path, keeping the good ones', () => {
    const text = JSON.stringify([
      verify,
      { ...verify, unit: 3 },
      { ...verify, params: { n: [1] } },
      { ...verify, ceiling: { name: 'x', value: 'fast', unit: 'ops/s' } },
      { ...verify, better: 'sideways' },
      'nope',
    ]);
    const parsed = parseRecords(text, 'parts/a.json');
    expect(parsed.records).toHaveLength(1);
    expect(parsed.errors.map((e) => e.message)).toEqual([
      'parts/a.json [1].unit: "unit" must be a non-empty string',
      'parts/a.json [2].params.n: must be a string, finite number or boolean, got [1]',
      'parts/a.json [3].ceiling.value: must be a finite number',
      'parts/a.json [4].better: "better" must be "higher" or "lower", got "sideways"',
      'parts/a.json [5]: expected an object, got string',
    ]);
  });
  it('reports a file that is not JSON or not an array', () => {
    expect(parseRecords('{', 'b.json').errors[0]!.message).toMatch(/^b\.json: not valid JSON/);
    expect(parseRecords('{}', 'c.json').errors[0]!.message).toBe('c.json: expected a JSON array of records');
  });
  it('infers "better" from the unit when absent and notes it', () => {
    const notes: string[] = [];
    const { better: _b, ...noBetter } = verify;
    expect(validateRecord({ ...noBetter, unit: 'ms' }, 'f', '[0]', notes).better).toBe('lower');
    expect(validateRecord(noBetter, 'f', '[1]', notes).better).toBe('higher');
    expect(notes).toHaveLength(2);
  });
});

describe('formatting', () => {
  it('formats numbers compactly', () => {
    expect(formatNumber(1_234_567)).toBe('1.23M');
    expect(formatNumber(12_345)).toBe('12.3k');
    expect(formatNumber(7800)).toBe('7800');
    expect(formatNumber(0.000123456)).toBe('0.000123');
    expect(formatNumber(0)).toBe('0');
  });
  it('shows the ceiling, the ratio and the claim on the progress line', () => {
    expect(formatRecordLine(verify)).toBe(
      'crypto/ed25519 · verify (native) [msgBytes=100]: 7800 ops/s (ceiling verify (noble) 650 ops/s, ×12) — claim: 7.8k/s (DESIGN §5)',
    );
    expect(ratioToCeiling({ ...verify, ceiling: { name: 'x', value: 1, unit: 'MB/s' } })).toBeUndefined();
  });
  it('latencyRecords produces p50/p90/p99/max with params.stat', () => {
    const recs = latencyRecords(
      { suite: 'cluster', name: 'commit latency', params: { n: 4 } },
      { count: 10, min: 1, mean: 2, p50: 2, p90: 3, p99: 4, max: 5 },
    );
    expect(recs.map((r) => [r.name, r.value, r.params.stat, r.better])).toEqual([
      ['commit latency p50', 2, 'p50', 'lower'],
      ['commit latency p90', 3, 'p90', 'lower'],
      ['commit latency p99', 4, 'p99', 'lower'],
      ['commit latency max', 5, 'max', 'lower'],
    ]);
  });
});

