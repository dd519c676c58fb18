/**
 * Hand-written SVG charts: no charting dependency, stable output (same input → same bytes), and
 * readable in any browser or on GitHub.
 */
import { formatNumber } from '@phalanx/bench-kit';

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

/** A "nice" upper bound (1, 2, 2.5, 5 × 10^k) at or above `v`, and its tick step. */
export function niceScale(v: number, ticks = 5): { max: number; step: number } {
  if (!(v > 0) || !Number.isFinite(v)) return { max: 1, step: 0.2 };
  const raw = v / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s * ticks >= v) ?? 10 * mag;
  return { max: step * ticks, step };
}

const W = 640;
const H = 360;
const M = { top: 40, right: 170, bottom: 70, left: 70 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

/** Splits text into lines of at most `width` characters at spaces (long words are cut). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const w = word.length > width ? `${word.slice(0, width - 1)}…` : word;
    if (cur && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines;
}

function frame(title: string, yLabel: string, xLabel: string, body: string[], subtitle?: string): string {
  const cx = M.left + PW / 2;
  const t = wrap(title, 70)[0] ?? '';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${cx}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(t)}</text>`,
    ...(subtitle ? [`<text x="${cx}" y="33" text-anchor="middle" font-size="10" fill="#555">${escapeXml(wrap(subtitle, 90)[0] ?? '')}</text>`] : []),
    `<text transform="translate(16 ${M.top + PH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
    `<text x="${cx}" y="${H - 10}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function yAxis(maxY: number, step: number): string[] {
  const out: string[] = [];
  for (let v = 0; v <= maxY + step / 2; v += step) {
    const y = M.top + PH - (v / maxY) * PH;
    out.push(`<line x1="${M.left}" y1="${y.toFixed(1)}" x2="${M.left + PW}" y2="${y.toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${M.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${escapeXml(formatNumber(v))}</text>`);
  }
  out.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + PH}" stroke="#333"/>`);
  out.push(`<line x1="${M.left}" y1="${M.top + PH}" x2="${M.left + PW}" y2="${M.top + PH}" stroke="#333"/>`);
  return out;
}

function legend(labels: string[]): string[] {
  return labels.flatMap((label, i) => {
    const y = M.top + 8 + i * 18;
    const x = M.left + PW + 16;
    return [
      `<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>`,
      `<text x="${x + 18}" y="${y + 1}">${escapeXml(label)}</text>`,
    ];
  });
}

export interface LineSeries {
  readonly label: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

/** Lines over a numeric x axis (e.g. throughput against replica count), one per series. */
export function lineChart(opts: {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  /** Horizontal reference line, e.g. the unreplicated ceiling. */
  reference?: { label: string; value: number };
}): string {
  const xs = [...new Set(opts.series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const maxData = Math.max(0, ...opts.series.flatMap((s) => s.points.map((p) => p.y)));
  // A reference far above the data would flatten every line; show it only when it fits on ~5× scale.
  const showRef = opts.reference !== undefined && opts.reference.value <= Math.max(maxData * 5, 1e-300);
  const { max, step } = niceScale(Math.max(maxData, showRef ? opts.reference!.value : 0));
  const minX = xs[0] ?? 0;
  const maxX = xs[xs.length - 1] ?? 1;
  const sx = (x: number): number => M.left + (maxX === minX ? PW / 2 : ((x - minX) / (maxX - minX)) * PW);
  const sy = (y: number): number => M.top + PH - (y / max) * PH;
  const body = yAxis(max, step);
  for (const x of xs) {
    body.push(`<text x="${sx(x).toFixed(1)}" y="${M.top + PH + 16}" text-anchor="middle">${escapeXml(formatNumber(x))}</text>`);
  }
  opts.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    if (pts.length > 1) {
      const d = pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
      body.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    }
    for (const p of pts) {
      body.push(
        `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3.5" fill="${color}"><title>${escapeXml(`${s.label}: ${formatNumber(p.y)} at ${p.x}`)}</title></circle>`,
      );
    }
  });
  const labels = opts.series.map((s) => s.label);
  if (showRef && opts.reference) {
    const y = sy(opts.reference.value).toFixed(1);
    body.push(`<line x1="${M.left}" y1="${y}" x2="${M.left + PW}" y2="${y}" stroke="#555" stroke-dasharray="6 4"/>`);
    body.push(`<text x="${M.left + 4}" y="${(Number(y) - 4).toFixed(1)}" fill="#555">${escapeXml(`${opts.reference.label} ${formatNumber(opts.reference.value)}`)}</text>`);
  }
  body.push(...legend(labels));
  if (opts.reference && !showRef) {
    // Off scale: say so in the legend rather than squash every line against the x axis.
    const y = M.top + 8 + labels.length * 18 + 8;
    const x = M.left + PW + 16;
    const text = [`ceiling (off scale): ${formatNumber(opts.reference.value)}`, ...wrap(opts.reference.label, 26)].slice(0, 6);
    text.forEach((line, i) => body.push(`<text x="${x}" y="${y + i * 13}" fill="#555" font-size="10">${escapeXml(line)}</text>`));
  }
  return frame(opts.title, opts.yLabel, opts.xLabel, body, opts.subtitle);
}

export interface BarGroup {
  readonly label: string;
  /** Bar values in the order of `bars`; a missing value leaves a gap. */
  readonly values: readonly (number | undefined)[];
}

/** Grouped bars, e.g. p50/p90/p99/max latency per configuration. */
export function barChart(opts: { title: string; yLabel: string; xLabel?: string; bars: readonly string[]; groups: readonly BarGroup[] }): string {
  const maxData = Math.max(0, ...opts.groups.flatMap((g) => g.values.filter((v): v is number => v !== undefined)));
  const { max, step } = niceScale(maxData);
  const body = yAxis(max, step);
  const gw = PW / Math.max(1, opts.groups.length);
  const bw = Math.min(28, (gw * 0.8) / Math.max(1, opts.bars.length));
  opts.groups.forEach((g, gi) => {
    const x0 = M.left + gi * gw + (gw - bw * opts.bars.length) / 2;
    g.values.forEach((v, bi) => {
      if (v === undefined) return;
      const h = (v / max) * PH;
      body.push(
        `<rect x="${(x0 + bi * bw).toFixed(1)}" y="${(M.top + PH - h).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${PALETTE[bi % PALETTE.length]}"><title>${escapeXml(`${g.label} ${opts.bars[bi]}: ${formatNumber(v)}`)}</title></rect>`,
      );
    });
    const cx = (M.left + gi * gw + gw / 2).toFixed(1);
    // Many groups: slant the labels so neighbours do not overlap.
    if (opts.groups.length > 4) {
      body.push(`<text x="${cx}" y="${M.top + PH + 12}" text-anchor="end" font-size="10" transform="rotate(-30 ${cx} ${M.top + PH + 12})">${escapeXml(g.label)}</text>`);
    } else body.push(`<text x="${cx}" y="${M.top + PH + 16}" text-anchor="middle">${escapeXml(g.label)}</text>`);
  });
  body.push(...legend([...opts.bars]));
  return frame(opts.title, opts.yLabel, opts.xLabel ?? '', body);
}
