import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseRecords, paramsLabel, type BenchRecord } from '@phalanx/bench-kit';

export interface LoadedResults {
  /** One record per figure, in file order (files sorted by name). */
  readonly records: BenchRecord[];
  /** Malformed files or entries, each message naming the file and the JSON path. */
  readonly problems: string[];
  /** Harmless oddities: inferred `better`, duplicate figures replaced, empty directory. */
  readonly notes: string[];
  /** Part files read, relative to the parts directory. */
  readonly files: string[];
}

/** The identity of a figure: same package, suite, name and params means the same figure. */
export function figureKey(r: BenchRecord): string {
  const params = Object.keys(r.params)
    .sort()
    .map((k) => `${k}=${String(r.params[k])}`)
    .join(',');
  return `${r.package ?? ''}|${r.suite}|${r.name}|${params}`;
}

/**
 * Reads every `*.json` in `dir` as a result part. Never throws on a bad file: what cannot be read
 * is listed in `problems` so one broken benchmark cannot hide every other figure.
 */
export function loadParts(dir: string): LoadedResults {
  const problems: string[] = [];
  const notes: string[] = [];
  if (!existsSync(dir)) {
    return { records: [], problems, notes: [`no result parts: ${dir} does not exist`], files: [] };
  }
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  if (files.length === 0) notes.push(`no result parts in ${dir}`);
  const byKey = new Map<string, BenchRecord>();
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(path.join(dir, f), 'utf8');
    } catch (e) {
      problems.push(`${f}: cannot read (${(e as Error).message})`);
      continue;
    }
    const parsed = parseRecords(text, f);
    for (const e of parsed.errors) problems.push(e.message);
    notes.push(...parsed.notes);
    for (const r of parsed.records) {
      const rec: BenchRecord = r.package ? r : { ...r, package: f.replace(/\.json$/, '') };
      const key = figureKey(rec);
      if (byKey.has(key)) {
        notes.push(`${f}: figure "${rec.suite} · ${rec.name}" [${paramsLabel(rec.params)}] appears twice; kept the last`);
        byKey.delete(key);
      }
      byKey.set(key, rec);
    }
  }
  return { records: [...byKey.values()], problems, notes, files };
}
