import { formatNumber, paramsLabel, ratioToCeiling, type BenchRecord } from '@phalanx/bench-kit';
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
    for (const r of input.records.filter((x) => x.suite === suite)) {
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
