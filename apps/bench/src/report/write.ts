import { mkdirSync, readdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ratioToCeiling, type BenchRecord } from '@phalanx/bench-kit';
import { loadParts } from './aggregate.js';
import { allCharts } from './charts.js';
import { renderMarkdown, type RunInfo, type StepOutcome } from './markdown.js';

export interface ReportFiles {
  readonly json: string;
  readonly markdown: string;
  readonly charts: string[];
  readonly records: number;
  readonly problems: string[];
}

export function runInfo(quick: boolean, durationSec?: number, now: Date = new Date()): RunInfo {
  const cpus = os.cpus();
  return {
    generatedAt: now.toISOString(),
    quick,
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
    cpus: cpus.length,
    ...(cpus[0]?.model ? { cpuModel: cpus[0].model.trim() } : {}),
    ...(durationSec !== undefined ? { durationSec } : {}),
  };
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/**
 * Aggregates `<resultsDir>/parts/*.json` into `latest.json`, `latest.md` and `charts/*.svg`.
 * Stale charts from an earlier run are removed so the directory matches the report.
 */
export function writeReport(resultsDir: string, opts: { run: RunInfo; steps?: readonly StepOutcome[] }): ReportFiles {
  const loaded = loadParts(path.join(resultsDir, 'parts'));
  const charts = allCharts(loaded.records);
  const chartDir = path.join(resultsDir, 'charts');
  mkdirSync(chartDir, { recursive: true });
  for (const f of readdirSync(chartDir)) if (f.endsWith('.svg')) rmSync(path.join(chartDir, f));
  const chartFiles = charts.map((c) => {
    const f = path.join(chartDir, c.file);
    writeFileSync(f, c.svg);
    return f;
  });
  const steps = opts.steps ?? [];
  const withRatio = loaded.records.map((r: BenchRecord) => {
    const ratio = ratioToCeiling(r);
    return ratio === undefined ? r : { ...r, ratioToCeiling: ratio };
  });
  const json = path.join(resultsDir, 'latest.json');
  writeAtomic(
    json,
    `${JSON.stringify(
      { run: opts.run, records: withRatio, steps, problems: loaded.problems, notes: loaded.notes, files: loaded.files, charts: charts.map((c) => `charts/${c.file}`) },
      null,
      2,
    )}\n`,
  );
  const markdown = path.join(resultsDir, 'latest.md');
  writeAtomic(markdown, renderMarkdown({ records: loaded.records, problems: loaded.problems, notes: loaded.notes, steps, charts, run: opts.run }));
  return { json, markdown, charts: chartFiles, records: loaded.records.length, problems: loaded.problems };
}
