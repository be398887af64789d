/**
 * Small SVG charts for the report, generated here (no charting dependency): latency percentiles on a log
 * scale, and a throughput time series. Output is static SVG 1.1 text that GitHub renders inline.
 */

export interface Series {
  label: string;
  color: string;
  values: number[];
  dashed?: boolean;
}

function dash(s: Series): string {
  return s.dashed === true ? ' stroke-dasharray="6 4"' : '';
}

const WIDTH = 780;
const HEIGHT = 360;
const MARGIN = { left: 78, right: 230, top: 36, bottom: 48 };
const FONT = 'font-family="sans-serif" font-size="12"';

/** Fixed colors per target, so a target looks the same in every chart. */
export const TARGET_COLORS: Record<string, string> = {
  tern: '#1f77b4',
  'redis-always': '#d62728',
  'redis-everysec': '#ff9896',
  nats: '#2ca02c',
  rabbitmq: '#ff7f0e',
};

export function colorOf(id: string): string {
  return TARGET_COLORS[id] ?? '#7f7f7f';
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** "1.5 ms", "230 µs", "2.1 s". */
export function formatUs(us: number): string {
  if (us >= 1e6) return `${trim(us / 1e6)} s`;
  if (us >= 1e3) return `${trim(us / 1e3)} ms`;
  return `${Math.round(us)} µs`;
}

/** "1.2M", "35k", "950". */
export function formatCount(n: number): string {
  if (n >= 1e6) return `${trim(n / 1e6)}M`;
  if (n >= 1e3) return `${trim(n / 1e3)}k`;
  return `${Math.round(n)}`;
}

function trim(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1).replace(/\.0$/, '') : x.toFixed(2).replace(/\.?0+$/, '');
}

/** Powers of ten covering [lo, hi] (lo, hi > 0). */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

/** About `count` round ticks from 0 to at least max. */
export function linearTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = 0; v < max + step - 1e-9; v += step) out.push(v);
  return out;
}

function frame(title: string, body: string[], legend: Series[]): string {
  const lx = WIDTH - MARGIN.right + 16;
  const items = legend.map((s, i) => `<line x1="${lx}" x2="${lx + 16}" y1="${MARGIN.top + i * 20 + 2}" y2="${MARGIN.top + i * 20 + 2}" stroke="${s.color}" stroke-width="3"${dash(s)}/><text x="${lx + 20}" y="${MARGIN.top + i * 20 + 6}" ${FONT}>${escapeXml(s.label)}</text>`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="20" font-family="sans-serif" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    ...items,
    '</svg>',
    '',
  ].join('\n');
}

/**
 * Latency percentiles (categories on x, e.g. p50 .. max) per series, log-scaled y in microseconds.
 * Non-positive values (a target without data) are left out of the line.
 */
export function latencyChart(title: string, categories: string[], series: Series[]): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const all = series.flatMap((s) => s.values).filter((v) => v > 0);
  const lo = all.length > 0 ? Math.min(...all) : 1;
  const hi = all.length > 0 ? Math.max(...all) : 10;
  const ticks = logTicks(lo, hi);
  const yMin = Math.log10(ticks[0]!);
  const yMax = Math.log10(ticks[ticks.length - 1]!);
  const y = (v: number): number => MARGIN.top + plotH - ((Math.log10(v) - yMin) / Math.max(1e-9, yMax - yMin)) * plotH;
  const x = (i: number): number => MARGIN.left + (categories.length === 1 ? plotW / 2 : (i * plotW) / (categories.length - 1));
  const body: string[] = [];
  for (const t of ticks) {
    body.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#dddddd"/>`);
    body.push(`<text x="${MARGIN.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" ${FONT}>${escapeXml(formatUs(t))}</text>`);
  }
  categories.forEach((c, i) => body.push(`<text x="${x(i).toFixed(1)}" y="${HEIGHT - MARGIN.bottom + 18}" text-anchor="middle" ${FONT}>${escapeXml(c)}</text>`));
  body.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 8}" text-anchor="middle" ${FONT}>percentile (log scale of latency)</text>`);
  for (const s of series) {
    const pts = s.values.map((v, i) => (v > 0 ? `${x(i).toFixed(1)},${y(v).toFixed(1)}` : null)).filter((p): p is string => p !== null);
    if (pts.length === 0) continue;
    body.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash(s)} points="${pts.join(' ')}"/>`);
    for (const p of pts) {
      const [px, py] = p.split(',');
      body.push(`<circle cx="${px}" cy="${py}" r="3" fill="${s.color}"/>`);
    }
  }
  return frame(title, body, series);
}

/** Values per second (index = second) per series; a shaded band marks the warm-up seconds. */
export function timeSeriesChart(title: string, yLabel: string, series: Series[], warmupS: number): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const ticks = linearTicks(Math.max(0, ...series.flatMap((s) => s.values)));
  const yTop = ticks[ticks.length - 1]!;
  const x = (i: number): number => MARGIN.left + (i * plotW) / (n - 1);
  const y = (v: number): number => MARGIN.top + plotH - (v / yTop) * plotH;
  const body: string[] = [];
  if (warmupS > 0) body.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${(x(Math.min(warmupS, n - 1)) - MARGIN.left).toFixed(1)}" height="${plotH}" fill="#f2f2f2"/><text x="${MARGIN.left + 4}" y="${MARGIN.top + 14}" ${FONT} fill="#888888">warm-up</text>`);
  for (const t of ticks) {
    body.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#dddddd"/>`);
    body.push(`<text x="${MARGIN.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" ${FONT}>${escapeXml(formatCount(t))}</text>`);
  }
  const step = Math.max(1, Math.ceil(n / 10));
  for (let i = 0; i < n; i += step) body.push(`<text x="${x(i).toFixed(1)}" y="${HEIGHT - MARGIN.bottom + 18}" text-anchor="middle" ${FONT}>${i}</text>`);
  body.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 8}" text-anchor="middle" ${FONT}>seconds since start (${escapeXml(yLabel)})</text>`);
  for (const s of series) {
    if (s.values.length === 0) continue;
    const pts = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    body.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash(s)} points="${pts.join(' ')}"/>`);
  }
  return frame(title, body, series);
}
