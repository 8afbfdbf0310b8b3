import assert from 'node:assert/strict';
import { barChart, formatNumber, lineChart } from '../../bench/svg-chart.ts';

/** An element of the parsed output: its name, attributes, children and own text. */
interface Element {
  name: string;
  attrs: Record<string, string>;
  children: Element[];
  text: string;
}

/**
 * A strict parser for the subset of XML the chart writer emits (elements, attributes in double
 * quotes, text, the five entities): it throws on a tag closed out of order, an unclosed tag, a
 * stray `<` or `&`, or anything after the root, which is what well-formed means here.
 */
function parseXml(source: string): Element {
  const root: Element = { name: '#document', attrs: {}, children: [], text: '' };
  const stack = [root];
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/y;
  const decode = (raw: string): string => {
    assert.doesNotMatch(raw, /&(?!(?:amp|lt|gt|quot|apos);)/, `bare & in ${raw}`);
    return raw.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e]!);
  };
  while (token.lastIndex < source.length) {
    const at = token.lastIndex;
    const match = token.exec(source);
    assert.ok(match !== null, `not well-formed at ${at}: ${source.slice(at, at + 40)}`);
    const [, closing, name, rawAttrs, selfClosing, text] = match;
    const top = stack.at(-1)!;
    if (text !== undefined) {
      if (text.trim() !== '') assert.notEqual(top, root, 'text outside the root');
      top.text += decode(text);
    } else if (closing === '/') {
      assert.equal(name, top.name, `</${name}> closes <${top.name}>`);
      stack.pop();
    } else {
      if (top === root) assert.equal(root.children.length, 0, 'a second root element');
      const attrs: Record<string, string> = {};
      for (const [, key, value] of rawAttrs!.matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[key!] = decode(value!);
      const element: Element = { name: name!, attrs, children: [], text: '' };
      top.children.push(element);
      if (selfClosing !== '/') stack.push(element);
    }
  }
  assert.equal(stack.length, 1, `unclosed <${stack.at(-1)!.name}>`);
  assert.equal(root.children.length, 1);
  return root.children[0]!;
}

function all(element: Element, test: (e: Element) => boolean): Element[] {
  return [...(test(element) ? [element] : []), ...element.children.flatMap((child) => all(child, test))];
}

const series = (svg: Element): Element[] => all(svg, (e) => e.name === 'g' && e.attrs.class === 'series');
const numberOf = (e: Element, attr: string): number => Number(e.attrs[attr]);
const texts = (svg: Element): string[] => all(svg, (e) => e.name === 'text').map((e) => e.text);

function assertStrictlyIncreasing(values: number[], what: string): void {
  for (let i = 1; i < values.length; i++) assert.ok(values[i]! > values[i - 1]!, `${what}: ${values.join(', ')}`);
}

describe('SVG chart writer (bench/svg-chart.ts)', () => {
  const sizes = [5, 10, 20, 40, 80];

  it('a line chart is one well-formed SVG with a group per series and a marker per point', () => {
    const svg = parseXml(
      lineChart({
        title: 'Get latency <by size> & more',
        note: 'a note',
        xLabel: 'nodes',
        yLabel: 'ms',
        series: [
          { name: 'p50', points: sizes.map((x, i) => ({ x, y: i + 1 })) },
          { name: 'kad "p50"', points: sizes.slice(0, 3).map((x) => ({ x, y: 2 * x })) },
        ],
      }),
    );
    assert.equal(svg.name, 'svg');
    assert.equal(svg.attrs.xmlns, 'http://www.w3.org/2000/svg');
    const groups = series(svg);
    assert.deepStrictEqual(groups.map((g) => g.attrs['data-name']), ['p50', 'kad "p50"']);
    assert.deepStrictEqual(groups.map((g) => all(g, (e) => e.name === 'circle').length), [5, 3]);
    assert.deepStrictEqual(groups.map((g) => all(g, (e) => e.name === 'polyline').length), [1, 1]);
    // Title (escaped on the way out, whole on the way back), legend and labels are all text.
    for (const expected of ['Get latency <by size> & more', 'a note', 'nodes', 'ms', 'p50', 'kad "p50"']) assert.ok(texts(svg).includes(expected), expected);
  });

  it('in a line chart, x grows rightwards and y upwards, on linear and log scales alike', () => {
    for (const log of [false, true]) {
      const points = sizes.map((x) => ({ x, y: x ** 2 / 10 }));
      const svg = parseXml(lineChart({ title: 't', xLabel: 'x', yLabel: 'y', logX: log, logY: log, series: [{ name: 's', points: [...points].reverse() }] }));
      const circles = all(svg, (e) => e.name === 'circle');
      assertStrictlyIncreasing(circles.map((c) => numberOf(c, 'cx')), `cx, log=${log}`);
      assertStrictlyIncreasing(circles.map((c) => -numberOf(c, 'cy')), `-cy, log=${log}`);
      if (log) {
        // On a log scale equal ratios are equal distances: sizes double, so cx steps are equal.
        const steps = circles.slice(1).map((c, i) => numberOf(c, 'cx') - numberOf(circles[i]!, 'cx'));
        for (const step of steps) assert.ok(Math.abs(step - steps[0]!) < 0.2, steps.join(', '));
      }
    }
  });

  it('a bar chart has a bar per value, gaps where a value is missing, and taller bars for larger values', () => {
    for (const log of [false, true]) {
      const svg = parseXml(
        barChart({
          title: 'Throughput',
          yLabel: 'msgs/s',
          logY: log,
          categories: ['same-loop', 'worker-thread', 'child-process'],
          series: [
            { name: 'mydht', values: [62e6, 1.4e6, 1.2e6] },
            { name: 'raw', values: [96e6, undefined, 1.3e6] },
          ],
        }),
      );
      const groups = series(svg);
      assert.deepStrictEqual(groups.map((g) => all(g, (e) => e.name === 'rect' && e.attrs.class === 'bar').length), [3, 2]);
      const bars = all(svg, (e) => e.attrs.class === 'bar');
      const byValue = [1.2e6, 1.3e6, 1.4e6, 62e6, 96e6].map((v) => bars.find((b) => b.children[0]!.text.endsWith(formatNumber(v)))!);
      assertStrictlyIncreasing(byValue.map((b) => numberOf(b, 'height')), `heights, log=${log}`);
      // Every bar stands on the same floor.
      assert.equal(new Set(bars.map((b) => (numberOf(b, 'y') + numberOf(b, 'height')).toFixed(0))).size, 1);
      assert.ok(texts(svg).includes(log ? 'msgs/s (log scale)' : 'msgs/s'));
    }
  });

  it('refuses what it cannot draw: no values, or a value <= 0 on a log scale', () => {
    assert.throws(() => lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [] }), RangeError);
    assert.throws(() => barChart({ title: 't', yLabel: 'y', categories: ['a'], series: [{ name: 's', values: [undefined] }] }), RangeError);
    assert.throws(() => barChart({ title: 't', yLabel: 'y', logY: true, categories: ['a'], series: [{ name: 's', values: [0] }] }), RangeError);
  });

  it('formats values in three significant digits, thousands as k and millions as M', () => {
    assert.deepStrictEqual([0.614, 27.94, 1234, 12_345, 62_300_000].map(formatNumber), ['0.614', '27.9', '1,234', '12.3k', '62.3M']);
  });
});
