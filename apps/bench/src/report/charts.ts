import { LATENCY_STATS, paramsLabel, type BenchRecord, type ParamValue } from '@phalanx/bench-kit';
import { barChart, lineChart, type LineSeries } from './svg.js';

export interface Chart {
  /** File name under `charts/`, e.g. `cluster-memory-throughput.svg`. */
  readonly file: string;
  readonly title: string;
  readonly suite: string;
  readonly svg: string;
}

export function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 80) || 'chart'
  );
}

/** Params that identify a series/point position rather than a distinct chart. */
const NON_CHART_PARAMS = new Set(['n', 'protocol', 'stat', 'samples', 'quick', 'seconds', 'committed', 'steady', 'failed']);

function rest(params: Readonly<Record<string, ParamValue>>, drop: Set<string>): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const k of Object.keys(params).sort()) if (!drop.has(k)) out[k] = params[k]!;
  return out;
}

/**
 * Throughput (or any "higher is better" rate) against replica count: records with a numeric
 * `params.n` and a string `params.protocol`, one chart per (suite, name, unit, other params),
 * one line per protocol. The ceiling, when the records share one, is drawn as a dashed line.
 */
export function replicaCharts(records: readonly BenchRecord[]): Chart[] {
  const groups = new Map<string, BenchRecord[]>();
  for (const r of records) {
    if (typeof r.params.n !== 'number' || typeof r.params.protocol !== 'string' || r.params.stat !== undefined) continue;
    const key = JSON.stringify([r.suite, r.name, r.unit, rest(r.params, NON_CHART_PARAMS)]);
    const g = groups.get(key) ?? [];
    g.push(r);
    groups.set(key, g);
  }
  const charts: Chart[] = [];
  for (const g of groups.values()) {
    // A line needs at least two replica counts; a single n is already in the table.
    if (new Set(g.map((r) => r.params.n)).size < 2) continue;
    const first = g[0]!;
    const series = new Map<string, { x: number; y: number }[]>();
    for (const r of g) {
      const s = series.get(r.params.protocol as string) ?? [];
      s.push({ x: r.params.n as number, y: r.value });
      series.set(r.params.protocol as string, s);
    }
    const lines: LineSeries[] = [...series.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([label, points]) => ({ label, points }));
    const extra = paramsLabel(rest(first.params, NON_CHART_PARAMS));
    const title = `${first.suite}: ${first.name} vs replicas`;
    const ceilings = g.map((r) => r.ceiling).filter((c) => c !== undefined && c.unit === first.unit);
    const ceiling = ceilings.length === g.length ? ceilings[ceilings.length - 1] : undefined;
    charts.push({
      file: `${slug(`${first.suite}-${first.name}-${extra}`)}.svg`,
      title,
      suite: first.suite,
      svg: lineChart({
        title,
        ...(extra ? { subtitle: extra } : {}),
        xLabel: 'replicas (n)',
        yLabel: `${first.name} (${first.unit})`,
        series: lines,
        ...(ceiling ? { reference: { label: ceiling.name, value: ceiling.value } } : {}),
      }),
    });
  }
  return charts;
}

const STAT_RE = new RegExp(`\\s+(${LATENCY_STATS.join('|')})$`);

/**
 * Latency distributions: records with `params.stat` in p50/p90/p99/max, grouped by (suite, base
 * name, unit); one bar group per remaining params combination (e.g. per protocol and n).
 */
export function latencyCharts(records: readonly BenchRecord[]): Chart[] {
  const groups = new Map<string, { suite: string; base: string; unit: string; byLabel: Map<string, Map<string, number>> }>();
  for (const r of records) {
    const stat = r.params.stat;
    if (typeof stat !== 'string' || !(LATENCY_STATS as readonly string[]).includes(stat)) continue;
    const base = r.name.replace(STAT_RE, '');
    const key = JSON.stringify([r.suite, base, r.unit]);
    const g = groups.get(key) ?? { suite: r.suite, base, unit: r.unit, byLabel: new Map() };
    const label = shortLabel(rest(r.params, new Set(['stat', 'samples', 'quick']))) || base;
    const stats = g.byLabel.get(label) ?? new Map<string, number>();
    stats.set(stat, r.value);
    g.byLabel.set(label, stats);
    groups.set(key, g);
  }
  const charts: Chart[] = [];
  for (const g of groups.values()) {
    const bars = LATENCY_STATS.filter((s) => [...g.byLabel.values()].some((m) => m.has(s)));
    const title = `${g.suite}: ${g.base} distribution`;
    charts.push({
      file: `${slug(`${g.suite}-${g.base}-latency`)}.svg`,
      title,
      suite: g.suite,
      svg: barChart({
        title,
        yLabel: g.unit,
        bars,
        groups: [...g.byLabel.entries()].map(([label, m]) => ({ label, values: bars.map((b) => m.get(b)) })),
      }),
    });
  }
  return charts;
}

/** `{protocol: 'pbft', n: 4}` → `pbft n=4`: strings alone, numbers and booleans as key=value. */
export function shortLabel(params: Readonly<Record<string, ParamValue>>): string {
  return Object.entries(params)
    .map(([k, v]) => (typeof v === 'string' ? v : `${k}=${v}`))
    .join(' ');
}

/** Every chart the report draws, with unique file names. */
export function allCharts(records: readonly BenchRecord[]): Chart[] {
  const charts = [...replicaCharts(records), ...latencyCharts(records)];
  const seen = new Map<string, number>();
  return charts.map((c) => {
    const k = seen.get(c.file) ?? 0;
    seen.set(c.file, k + 1);
    return k === 0 ? c : { ...c, file: c.file.replace(/\.svg$/, `-${k + 1}.svg`) };
  });
}
