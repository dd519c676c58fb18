import { describe, it, expect } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { latencyRecords, type BenchRecord } from '@phalanx/bench-kit';
import { loadParts } from '../src/report/aggregate.js';
import { writeReport, runInfo } from '../src/report/write.js';
import { allCharts, latencyCharts, replicaCharts } from '../src/report/charts.js';
import { renderMarkdown, cell } from '../src/report/markdown.js';
import { escapeXml, niceScale } from '../src/report/svg.js';
import { tempDir } from './temp-dir.js';


const unreplicated = { name: 'unreplicated kv-store', value: 50_000, unit: 'ops/s' };

function fixtureRecords(): BenchRecord[] {
  const out: BenchRecord[] = [
    {
      suite: 'crypto/ed25519',
      name: 'verify (native)',
      value: 7600,
      unit: 'ops/s',
      params: { msgBytes: 100 },
      ceiling: { name: 'verify (noble, pure JS)', value: 650, unit: 'ops/s' },
      claim: '7.8k/s with a cached KeyObject (DESIGN §5)',
      better: 'higher',
    },
  ];
  for (const protocol of ['pbft', 'hotstuff']) {
    for (const n of [4, 7, 16, 31]) {
      out.push({
        suite: 'cluster/in-process',
        name: 'throughput',
        value: (protocol === 'pbft' ? 20_000 : 15_000) / n,
        unit: 'ops/s',
        params: { protocol, n, transport: 'memory' },
        ceiling: unreplicated,
        better: 'higher',
      });
      out.push(
        ...latencyRecords({ suite: 'cluster/in-process', name: 'commit latency', params: { protocol, n } }, { count: 100, min: 1, mean: 3, p50: n, p90: 2 * n, p99: 3 * n, max: 4 * n }),
      );
    }
  }
  return out;
}

function resultsDir(): { dir: string; parts: string } {
  const dir = tempDir('bench-report-');
  const parts = path.join(dir, 'parts');
  mkdirSync(parts);
  return { dir, parts };
}

describe('report from fixture records', () => {
  it('writes latest.json, latest.md and SVG charts with ceilings, ratios and claims', () => {
    const { dir, parts } = resultsDir();
    writeFileSync(path.join(parts, 'phalanx-crypto.json'), JSON.stringify(fixtureRecords().slice(0, 1)));
    writeFileSync(path.join(parts, 'phalanx-bench-app.json'), JSON.stringify(fixtureRecords().slice(1)));
    const files = writeReport(dir, {
      run: runInfo(false, 12.5, new Date('2026-01-01T00:00:00Z')),
      steps: [{ step: 'peer comparison: etcd vs phalanx KV', status: 'skipped', detail: 'etcd is not installed' }],
    });

    const json = JSON.parse(readFileSync(files.json, 'utf8'));
    expect(json.records).toHaveLength(fixtureRecords().length);
    const verify = json.records.find((r: BenchRecord) => r.name === 'verify (native)');
    expect(verify.package).toBe('phalanx-crypto'); // taken from the file name when absent
    expect(verify.ratioToCeiling).toBeCloseTo(7600 / 650, 9);
    expect(json.problems).toEqual([]);
    expect(json.run.generatedAt).toBe('2026-01-01T00:00:00.000Z');

    const md = readFileSync(files.markdown, 'utf8');
    expect(md).toContain('## crypto/ed25519');
    expect(md).toContain('## cluster/in-process');
    expect(md).toContain('| verify (native) ↑ | msgBytes=100 | 7600 ops/s | verify (noble, pure JS): 650 ops/s | 11.7× (1169 %) | 7.8k/s with a cached KeyObject (DESIGN §5) |');
    expect(md).toContain('unreplicated kv-store: 50k ops/s');
    // A latency distribution is one row, its four figures side by side.
    expect(md).toContain('| commit latency ↓ | protocol=pbft n=4 samples=100 | p50 4 · p90 8 · p99 12 · max 16 ms | — |  |  |');
    expect(md).not.toContain('commit latency p50');
    expect(md).toContain('**skipped** peer comparison: etcd vs phalanx KV: etcd is not installed');
    expect(md).toMatch(/!\[cluster\/in-process: throughput vs replicas\]\(charts\/[a-z0-9-]+\.svg\)/);

    const charts = readdirSync(path.join(dir, 'charts')).sort();
    expect(charts).toHaveLength(2);
    for (const c of charts) {
      const svg = readFileSync(path.join(dir, 'charts', c), 'utf8');
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    }
    const throughput = readFileSync(path.join(dir, 'charts', charts.find((c) => c.includes('throughput'))!), 'utf8');
    expect(throughput).toContain('>pbft<');
    expect(throughput).toContain('>hotstuff<');
    expect(throughput.match(/<circle /g)).toHaveLength(8);
    const latency = readFileSync(path.join(dir, 'charts', charts.find((c) => c.includes('latency'))!), 'utf8');
    expect(latency.match(/<rect x="[^"]+" y="[^"]+" width="[^"]+" height="[^"]+" fill="[^"]+"><title>/g)).toHaveLength(8 * 4);
    expect(latency).toContain('>p99<');
  });

  it('reports malformed part files clearly and still reports the good figures', () => {
    const { dir, parts } = resultsDir();
    writeFileSync(path.join(parts, 'good.json'), JSON.stringify(fixtureRecords().slice(0, 1)));
    writeFileSync(path.join(parts, 'broken.json'), '[{"suite": "x", ');
    writeFileSync(path.join(parts, 'object.json'), '{"suite": "x"}');
    writeFileSync(path.join(parts, 'bad-entry.json'), JSON.stringify([{ ...fixtureRecords()[0], value: 'fast' }]));
    writeFileSync(path.join(parts, 'notes.txt'), 'ignored');
    const files = writeReport(dir, { run: runInfo(true) });
    expect(files.records).toBe(1);
    expect(files.problems).toEqual([
      'bad-entry.json [0].value: "value" must be a finite number, got "fast"',
      expect.stringMatching(/^broken\.json: not valid JSON/),
      'object.json: expected a JSON array of records',
    ]);
    const md = readFileSync(files.markdown, 'utf8');
    expect(md).toContain('**malformed** object.json: expected a JSON array of records');
    expect(md).toContain('**quick mode**');
  });

  it('removes charts left over from an earlier run', () => {
    const { dir, parts } = resultsDir();
    mkdirSync(path.join(dir, 'charts'));
    writeFileSync(path.join(dir, 'charts', 'old.svg'), '<svg/>');
    writeFileSync(path.join(parts, 'a.json'), '[]');
    writeReport(dir, { run: runInfo(false) });
    expect(existsSync(path.join(dir, 'charts', 'old.svg'))).toBe(false);
  });

  it('notes a missing parts directory and duplicate figures', () => {
    expect(loadParts('/nonexistent/parts').notes[0]).toMatch(/does not exist/);
    const { parts } = resultsDir();
    const r = fixtureRecords()[0]!;
    writeFileSync(path.join(parts, 'a.json'), JSON.stringify([r, { ...r, value: 1 }]));
    const loaded = loadParts(parts);
    expect(loaded.records).toHaveLength(1);
    expect(loaded.records[0]!.value).toBe(1);
    expect(loaded.notes.join('\n')).toMatch(/appears twice/);
  });
});

describe('charts', () => {
  it('draws one line per protocol over replica counts, with the ceiling as a reference line when it fits', () => {
    const recs = fixtureRecords().filter((r) => r.name === 'throughput');
    const [chart] = replicaCharts(recs);
    expect(chart!.title).toBe('cluster/in-process: throughput vs replicas');
    expect(chart!.svg).toContain('>transport=memory</text>');
    expect(chart!.svg.match(/<path /g)).toHaveLength(2);
    expect(chart!.svg).not.toContain('stroke-dasharray'); // 50k ceiling is > 5× the 5k max: off scale
    expect(chart!.svg).toContain('ceiling (off scale)');
    const near = recs.map((r) => ({ ...r, ceiling: { ...unreplicated, value: 8000 } }));
    expect(replicaCharts(near)[0]!.svg).toContain('stroke-dasharray');
    expect(replicaCharts(near)[0]!.svg).not.toContain('off scale');
  });

  it('ignores records that do not fit a chart shape and keeps file names unique', () => {
    expect(allCharts(fixtureRecords().slice(0, 1))).toEqual([]);
    const oneN = fixtureRecords().filter((r) => r.name === 'throughput' && r.params.n === 4);
    expect(replicaCharts(oneN)).toEqual([]); // one replica count is not a line
    const lat = latencyRecords({ suite: 's', name: 'rtt' }, { count: 1, min: 1, mean: 1, p50: 1, p90: 1, p99: 1, max: 1 });
    const twice = [...lat, ...lat.map((r) => ({ ...r, suite: 's ' }))];
    const files = latencyCharts(twice).map((c) => c.file);
    expect(new Set(allCharts(twice).map((c) => c.file)).size).toBe(files.length);
  });

  it('escapes labels so hostile names cannot break the SVG', () => {
    expect(escapeXml(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;');
    const recs = latencyRecords({ suite: '<script>', name: 'x' }, { count: 1, min: 1, mean: 1, p50: 1, p90: 2, p99: 3, max: 4 });
    expect(latencyCharts(recs)[0]!.svg).not.toContain('<script>');
  });

  it('picks nice axis bounds', () => {
    expect(niceScale(9)).toEqual({ max: 10, step: 2 });
    expect(niceScale(11)).toEqual({ max: 12.5, step: 2.5 });
    expect(niceScale(0)).toEqual({ max: 1, step: 0.2 });
    expect(niceScale(48_000).max).toBe(50_000);
  });
});

describe('markdown', () => {
  it('escapes table cells and says when nothing was recorded', () => {
    expect(cell('a|b\nc')).toBe('a\\|b c');
    const md = renderMarkdown({ records: [], problems: [], notes: [], steps: [], charts: [], run: runInfo(false) });
    expect(md).toContain('_No figures were recorded._');
  });
  it('shows "units differ" instead of a meaningless ratio', () => {
    const r: BenchRecord = { suite: 's', name: 'x', value: 1, unit: 'ms', params: {}, ceiling: { name: 'c', value: 2, unit: 'ops/s' }, better: 'lower' };
    const md = renderMarkdown({ records: [r], problems: [], notes: [], steps: [], charts: [], run: runInfo(false) });
    expect(md).toContain('(units differ)');
    expect(md).toContain('| x ↓ |');
  });
});
