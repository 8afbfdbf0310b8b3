/**
 * The benchmark runner: `npm run bench -- <suite>... [--json]`.
 *
 * Every figure is printed beside a raw baseline measured in the same run, with the ratio
 * value / baseline. With --json, one JSON object per line and nothing else on stdout:
 *   {"suite","name","value","unit","baseline","baselineValue","ratio"}
 * Without it, a readable table, a row per figure as it is measured.
 */
import { meetsTarget, ratioOf, type Figure, type Suite } from './figure.ts';

/** Suite name -> its module, whose default export is the Suite. Loaded only when asked for. */
const SUITES: Record<string, () => Promise<{ default: Suite }>> = {
  runtime: () => import('./runtime.ts'),
  node: () => import('./node.ts'),
  dht: () => import('./dht.ts'),
  listen: () => import('./listen.ts'),
  transports: () => import('./transports.ts'),
  charts: () => import('./charts.ts'),
};

/** Decimals kept per unit: whole messages per second, tenths of an op per second, of a millisecond, of a MB a second and of a percent, hundredths of a microsecond and of a MB. */
const DECIMALS: Record<Figure['unit'], number> = { 'msgs/s': 0, 'ops/s': 1, us: 2, ms: 1, MB: 2, 'MB/s': 1, '%': 1 };

function round(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}

function jsonLine(suite: string, figure: Figure): string {
  const decimals = DECIMALS[figure.unit];
  return JSON.stringify({
    suite,
    name: figure.name,
    value: round(figure.value, decimals),
    unit: figure.unit,
    baseline: figure.baseline,
    baselineValue: round(figure.baselineValue, decimals),
    ratio: round(ratioOf(figure), 3),
  });
}

const COLUMNS = [
  { title: 'figure', width: 28 },
  { title: 'value', width: 18, right: true },
  { title: 'baseline', width: 18, right: true },
  { title: 'ratio', width: 6, right: true },
  { title: 'target', width: 7, right: true },
  { title: '', width: 4 },
  { title: 'baseline is', width: 0 },
];

function tableRow(cells: string[]): string {
  return cells
    .map((cell, i) => {
      const column = COLUMNS[i]!;
      return column.right === true ? cell.padStart(column.width) : cell.padEnd(column.width);
    })
    .join('  ')
    .trimEnd();
}

function formatValue(value: number, unit: Figure['unit']): string {
  return `${round(value, DECIMALS[unit]).toLocaleString('en-US')} ${unit}`;
}

function tableLine(figure: Figure): string {
  const verdict = meetsTarget(figure);
  const target = figure.target === undefined ? '' : `${figure.better === 'higher' ? '>=' : '<='} ${figure.target}`;
  return tableRow([
    figure.name,
    formatValue(figure.value, figure.unit),
    formatValue(figure.baselineValue, figure.unit),
    ratioOf(figure).toFixed(2),
    target,
    verdict === undefined ? '' : verdict ? 'ok' : 'MISS',
    figure.baseline,
  ]);
}

function usage(): string {
  return `usage: npm run bench -- <suite>... [--json]\nsuites: ${Object.keys(SUITES).join(', ')}`;
}

async function main(args: string[]): Promise<number> {
  const json = args.includes('--json');
  const unknownFlags = args.filter((arg) => arg.startsWith('-') && arg !== '--json');
  const names = args.filter((arg) => !arg.startsWith('-'));
  const unknown = names.filter((name) => !Object.hasOwn(SUITES, name));
  if (names.length === 0 || unknown.length > 0 || unknownFlags.length > 0) {
    if (unknown.length > 0 || unknownFlags.length > 0) console.error(`unknown: ${[...unknown, ...unknownFlags].join(', ')}`);
    console.error(usage());
    return 2;
  }
  for (const name of names) {
    const suite = (await SUITES[name]!()).default;
    if (!json) {
      console.log(`\n${suite.name}`);
      console.log(tableRow(COLUMNS.map((column) => column.title)));
    }
    for await (const figure of suite.run()) console.log(json ? jsonLine(suite.name, figure) : tableLine(figure));
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
