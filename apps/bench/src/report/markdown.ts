import { formatNumber, LATENCY_STATS, paramsLabel, ratioToCeiling, type BenchRecord, type ParamValue } from '@phalanx/bench-kit';
import type { Chart } from './charts.js';

export interface RunInfo {
  readonly generatedAt: string;
  readonly quick: boolean;
  readonly node: string;
  readonly platform: string;
  readonly cpus: number;
  readonly cpuModel?: string;
  readonly durationSec?: number;
}

export interface StepOutcome {
  readonly step: string;
  readonly status: 'ok' | 'skipped' | 'failed';
  readonly detail?: string;
  readonly seconds?: number;
}

export interface ReportInput {
  readonly records: readonly BenchRecord[];
  readonly problems: readonly string[];
  readonly notes: readonly string[];
  readonly steps: readonly StepOutcome[];
  readonly charts: readonly Chart[];
  readonly run: RunInfo;
}

/** Markdown table cell: pipes and newlines would break the table. */
export function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function ratioText(r: BenchRecord): string {
  const ratio = ratioToCeiling(r);
  if (ratio === undefined) return r.ceiling ? `(units differ)` : '';
  const pct = ratio * 100;
  return pct >= 10 || pct === 0 ? `${formatNumber(ratio)}× (${pct.toFixed(0)} %)` : `${formatNumber(ratio)}× (${pct.toPrecision(2)} %)`;
}

type Row =
  | { readonly record: BenchRecord }
  | { readonly name: string; readonly params: Record<string, ParamValue>; readonly stats: BenchRecord[] };

const STAT_SUFFIX = new RegExp(`\\s+(${LATENCY_STATS.join('|')})$`);

/**
 * Table rows in record order, with the p50/p90/p99/max records of one distribution (same suite,
 * base name, unit and params apart from `stat`/`samples`) folded into one row at the first one's place.
 */
export function tableRows(records: readonly BenchRecord[]): Row[] {
  const rows: Row[] = [];
  const groups = new Map<string, { name: string; params: Record<string, ParamValue>; stats: BenchRecord[] }>();
  for (const r of records) {
    const stat = r.params.stat;
    if (typeof stat !== 'string' || !(LATENCY_STATS as readonly string[]).includes(stat) || !STAT_SUFFIX.test(r.name)) {
      rows.push({ record: r });
      continue;
    }
    const params: Record<string, ParamValue> = {};
    for (const [k, v] of Object.entries(r.params)) if (k !== 'stat') params[k] = v;
    const name = r.name.replace(STAT_SUFFIX, '');
    const key = JSON.stringify([name, r.unit, r.package ?? '', Object.entries(params).filter(([k]) => k !== 'samples').sort()]);
    const g = groups.get(key);
    if (g) g.stats.push(r);
    else {
      const fresh = { name, params, stats: [r] };
      groups.set(key, fresh);
      rows.push(fresh);
    }
  }
  return rows;
}

export function renderMarkdown(input: ReportInput): string {
  const { run } = input;
  const lines: string[] = [];
  lines.push('# Phalanx benchmarks', '');
  lines.push(
    `Generated ${run.generatedAt} · ${run.quick ? '**quick mode** (small sizes: shapes, not figures to quote)' : 'full run'} · ` +
      `Node ${run.node} · ${run.platform} · ${run.cpus} CPU${run.cpus === 1 ? '' : 's'}${run.cpuModel ? ` (${run.cpuModel})` : ''}` +
      `${run.durationSec !== undefined ? ` · ${run.durationSec.toFixed(1)} s` : ''}`,
    '',
  );
  lines.push(
    'Each figure sits beside the ceiling it is judged against, measured in the same run (DESIGN §10); ' +
      '"ratio" is value ÷ ceiling. "claim" is what the design or the seed says the figure should be. ' +
      'Arrows say which direction is better.',
    '',
  );
  const notRun = input.steps.filter((s) => s.status !== 'ok');
  if (notRun.length > 0 || input.problems.length > 0) {
    lines.push('## Skipped, failed and malformed', '');
    for (const s of notRun) lines.push(`- **${s.status}** ${cell(s.step)}${s.detail ? `: ${s.detail}` : ''}`);
    for (const p of input.problems) lines.push(`- **malformed** ${p}`);
    lines.push('');
  }
  const suites = [...new Set(input.records.map((r) => r.suite))].sort();
  if (suites.length === 0) lines.push('_No figures were recorded._', '');
  for (const suite of suites) {
    lines.push(`## ${suite}`, '');
    lines.push('| figure | params | value | ceiling | ratio | claim |', '|---|---|--:|---|--:|---|');
    for (const row of tableRows(input.records.filter((x) => x.suite === suite))) {
      if ('stats' in row) {
        // One row per latency distribution: p50 · p90 · p99 · max side by side.
        const value = row.stats.map((r) => `${r.params.stat} ${formatNumber(r.value)}`).join(' · ');
        const first = row.stats[0]!;
        const ceiling = first.ceiling ? `${first.ceiling.name}: ${formatNumber(first.ceiling.value)} ${first.ceiling.unit}` : '—';
        const claim = row.stats.map((r) => r.claim).filter(Boolean).join('; ');
        lines.push(`| ${cell(row.name)} ↓ | ${cell(paramsLabel(row.params))} | ${value} ${cell(first.unit)} | ${cell(ceiling)} |  | ${cell(claim)} |`);
        continue;
      }
      const r = row.record;
      const arrow = r.better === 'higher' ? '↑' : '↓';
      const ceiling = r.ceiling ? `${r.ceiling.name}: ${formatNumber(r.ceiling.value)} ${r.ceiling.unit}` : '—';
      lines.push(
        `| ${cell(r.name)} ${arrow} | ${cell(paramsLabel(r.params))} | ${formatNumber(r.value)} ${cell(r.unit)} | ${cell(ceiling)} | ${ratioText(r)} | ${cell(r.claim ?? '')} |`,
      );
    }
    lines.push('');
    for (const c of input.charts.filter((x) => x.suite === suite)) lines.push(`![${c.title}](charts/${c.file})`, '');
  }
  if (input.steps.length > 0) {
    lines.push('## Run steps', '', '| step | status | time | detail |', '|---|---|--:|---|');
    for (const s of input.steps) {
      lines.push(`| ${cell(s.step)} | ${s.status} | ${s.seconds !== undefined ? `${s.seconds.toFixed(1)} s` : ''} | ${cell(s.detail ?? '')} |`);
    }
    lines.push('');
  }
  if (input.notes.length > 0) {
    lines.push('## Notes', '');
    for (const n of input.notes) lines.push(`- ${n}`);
    lines.push('');
  }
  return lines.join('\n');
}
