/**
 * A small SVG writer for the charts in docs/benchmarks.md: line charts (numeric x, named series,
 * linear or log scales) and grouped bar charts (categories x series), each with axes, ticks,
 * labels, a legend and a title. The output is plain SVG text, no scripts, no stylesheet and no
 * dependency: two kinds of chart do not earn a charting library its place.
 *
 * Every series is a `<g class="series" data-name="...">`, every bar a `<rect class="bar">` with a
 * `<title>` of its value, so a reader's browser shows the figure on hover and a test can count them.
 */

export interface LineSeries {
  name: string;
  points: readonly { x: number; y: number }[];
}

export interface LineChart {
  title: string;
  /** A line under the title: what was measured, where and when. */
  note?: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  logX?: boolean;
  logY?: boolean;
}

export interface BarSeries {
  name: string;
  /** One value per category, in the chart's category order; undefined leaves a gap. */
  values: readonly (number | undefined)[];
}

export interface BarChart {
  title: string;
  note?: string;
  yLabel: string;
  categories: readonly string[];
  series: readonly BarSeries[];
  logY?: boolean;
}

const WIDTH = 760;
const HEIGHT = 440;
/** The right margin holds the legend. */
const PLOT = { left: 76, right: WIDTH - 190, top: 70, bottom: HEIGHT - 56 };
/** Okabe-Ito: told apart by readers with the common colour-vision deficiencies. */
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];
const colour = (i: number): string => PALETTE[i % PALETTE.length]!;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Three significant digits at most, thousands as k and millions as M: 0.61, 27.9, 1.2k, 62.3M. */
export function formatNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (abs >= 1e4) return `${Number((value / 1e3).toPrecision(3))}k`;
  return abs >= 1000 ? Math.round(value).toLocaleString('en-US') : String(Number(value.toPrecision(3)));
}

/** Maps a value of the domain onto a pixel coordinate; the ticks to draw along it. */
interface Axis {
  at(value: number): number;
  ticks: number[];
}

/** Ticks at 1, 2 or 5 x 10^n, about five of them, from 0 to past max. */
function linearAxis(min: number, max: number, from: number, to: number): Axis {
  const span = max - min || Math.abs(max) || 1;
  const raw = span / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let t = lo; t <= hi + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return { at: (v) => from + ((v - lo) / (hi - lo || 1)) * (to - from), ticks };
}

/** Whole decades around [min, max] (min > 0), ticks at each power of ten, and at 2 and 5 when they span few. */
function logAxis(min: number, max: number, from: number, to: number): Axis {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)));
  const ticks: number[] = [];
  for (let p = lo; p <= hi; p++) {
    for (const m of hi - lo <= 2 ? [1, 2, 5] : [1]) if (p < hi || m === 1) ticks.push(Number((m * 10 ** p).toPrecision(12)));
  }
  return { at: (v) => from + ((Math.log10(v) - lo) / (hi - lo)) * (to - from), ticks };
}

/** The y axis over values (all of which must be positive on a log scale): from 0 unless log. */
function yAxis(values: number[], log: boolean | undefined): Axis {
  if (log === true) {
    if (values.some((v) => !(v > 0))) throw new RangeError('a log scale needs positive values');
    return logAxis(Math.min(...values), Math.max(...values), PLOT.bottom, PLOT.top);
  }
  return linearAxis(Math.min(0, ...values), Math.max(...values), PLOT.bottom, PLOT.top);
}

const text = (x: number, y: number, body: string, attrs = ''): string =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${attrs === '' ? '' : ` ${attrs}`}>${escape(body)}</text>`;

/** The frame of any chart: title, note, y gridlines with their ticks, the y label, the legend. */
function frame(chart: { title: string; note?: string; yLabel: string; logY?: boolean }, y: Axis, names: readonly string[], body: string[]): string {
  const grid = y.ticks.map((t) => {
    const at = y.at(t).toFixed(1);
    return `<line x1="${PLOT.left}" x2="${PLOT.right}" y1="${at}" y2="${at}" stroke="#ddd"/>` + text(PLOT.left - 6, y.at(t) + 4, formatNumber(t), 'text-anchor="end"');
  });
  const legend = names.map((name, i) => {
    const top = PLOT.top + i * 22;
    return `<rect x="${PLOT.right + 16}" y="${top}" width="14" height="14" fill="${colour(i)}"/>` + text(PLOT.right + 36, top + 12, name);
  });
  const middle = (PLOT.top + PLOT.bottom) / 2;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12" fill="#222">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    text(WIDTH / 2, 24, chart.title, 'text-anchor="middle" font-size="16" font-weight="bold"'),
    ...(chart.note === undefined ? [] : [text(WIDTH / 2, 44, chart.note, 'text-anchor="middle" fill="#555"')]),
    ...grid,
    text(18, middle, chart.logY === true ? `${chart.yLabel} (log scale)` : chart.yLabel, `text-anchor="middle" transform="rotate(-90 18 ${middle})"`),
    ...body,
    `<line x1="${PLOT.left}" x2="${PLOT.right}" y1="${PLOT.bottom}" y2="${PLOT.bottom}" stroke="#222"/>`,
    `<line x1="${PLOT.left}" x2="${PLOT.left}" y1="${PLOT.top}" y2="${PLOT.bottom}" stroke="#222"/>`,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}

/** Lines with a marker at each point; x ticks at the points' x values when there are few. */
export function lineChart(chart: LineChart): string {
  const points = chart.series.flatMap((s) => s.points);
  if (points.length === 0) throw new RangeError('a line chart needs at least one point');
  const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  const [first, last] = [xs[0]!, xs.at(-1)!];
  const along = chart.logX === true ? Math.log10 : (v: number): number => v;
  // Padding keeps the end markers off the axes.
  const pad = 14;
  const x = (v: number): number => PLOT.left + pad + ((along(v) - along(first)) / (along(last) - along(first) || 1)) * (PLOT.right - PLOT.left - 2 * pad);
  const ticks = xs.length <= 12 ? xs : linearAxis(first, last, 0, 1).ticks.filter((t) => t >= first && t <= last);
  const y = yAxis(points.map((p) => p.y), chart.logY);
  const xTicks = ticks.map((t) => text(x(t), PLOT.bottom + 18, formatNumber(t), 'text-anchor="middle"'));
  const lines = chart.series.map((s, i) => {
    const coords = [...s.points].sort((a, b) => a.x - b.x).map((p) => ({ ...p, cx: x(p.x).toFixed(1), cy: y.at(p.y).toFixed(1) }));
    const markers = coords.map((c) => `<circle cx="${c.cx}" cy="${c.cy}" r="4" fill="${colour(i)}"><title>${escape(`${s.name}: ${formatNumber(c.x)} -> ${formatNumber(c.y)}`)}</title></circle>`);
    const path = `<polyline fill="none" stroke="${colour(i)}" stroke-width="2" points="${coords.map((c) => `${c.cx},${c.cy}`).join(' ')}"/>`;
    return [`<g class="series" data-name="${escape(s.name)}">`, path, ...markers, '</g>'].join('\n');
  });
  const xLabel = text((PLOT.left + PLOT.right) / 2, HEIGHT - 14, chart.logX === true ? `${chart.xLabel} (log scale)` : chart.xLabel, 'text-anchor="middle"');
  return frame(chart, y, chart.series.map((s) => s.name), [...xTicks, xLabel, ...lines]);
}

/** Bars grouped by category, one colour per series, each labelled with its value. */
export function barChart(chart: BarChart): string {
  const values = chart.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
  if (values.length === 0) throw new RangeError('a bar chart needs at least one value');
  const y = yAxis(values, chart.logY);
  // Bars rise from the axis's lowest tick: 0 on a linear scale, the decade below the least value on a log one.
  const floor = chart.logY === true ? y.ticks[0]! : 0;
  const group = (PLOT.right - PLOT.left) / chart.categories.length;
  const barWidth = (group * 0.8) / chart.series.length;
  const labels = chart.categories.map((c, j) => text(PLOT.left + group * (j + 0.5), PLOT.bottom + 18, c, 'text-anchor="middle"'));
  const bars = chart.series.map((s, i) => {
    const rects = chart.categories.flatMap((category, j) => {
      const v = s.values[j];
      if (v === undefined) return [];
      const left = PLOT.left + group * j + group * 0.1 + barWidth * i;
      const top = y.at(v);
      const height = y.at(floor) - top;
      return [
        `<rect class="bar" x="${left.toFixed(1)}" y="${top.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${height.toFixed(1)}" fill="${colour(i)}"><title>${escape(`${category}, ${s.name}: ${formatNumber(v)}`)}</title></rect>`,
        text(left + barWidth / 2, top - 4, formatNumber(v), 'text-anchor="middle" font-size="11"'),
      ];
    });
    return [`<g class="series" data-name="${escape(s.name)}">`, ...rects, '</g>'].join('\n');
  });
  return frame(chart, y, chart.series.map((s) => s.name), [...labels, ...bars]);
}
