import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { SeriesHistogram } from './metrics.js';

// Binary fractions: sums are exact in any order (prom-client and the series add in different orders).
const BUCKETS = [1 / 1024, 1 / 64, 1 / 8, 1, 8];
const config = (registry: Registry) => ({
  name: 'test_latency_seconds',
  help: 'Latency.',
  labelNames: ['pipeline', 'sink'] as const,
  buckets: BUCKETS,
  registers: [registry],
});

type Obs = { series: 0 | 1; value: number; plain: boolean };
const LABELS = [
  { pipeline: 'p', sink: 'a' },
  { pipeline: 'p', sink: 'b' },
];

const lines = (text: string): string[] => text.split('\n').sort();

/** The same observations into prom-client's Histogram and into a SeriesHistogram (some through series()). */
function both(observations: Obs[]) {
  const reference = new Registry();
  const ours = new Registry();
  const plain = new Histogram(config(reference));
  const fast = new SeriesHistogram(config(ours));
  for (const o of observations) {
    plain.observe(LABELS[o.series]!, o.value);
    if (o.plain) fast.observe(LABELS[o.series]!, o.value);
    else fast.series(LABELS[o.series]!).observe(o.value);
  }
  return { reference, ours, plain, fast };
}

describe('SeriesHistogram', () => {
  it('shows what prom-client shows for the same observations, by series() or observe()', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            series: fc.constantFrom(0 as const, 1 as const),
            value: fc.oneof(
              fc.constantFrom(...BUCKETS, 0),
              fc.integer({ min: 0, max: 20_000 }).map((n) => n / 1024),
            ),
            plain: fc.boolean(),
          }),
          { maxLength: 40 },
        ),
        async (observations) => {
          const { reference, ours, plain, fast } = both(observations);
          // The same lines; series may come in another order (one observed either way comes first).
          expect(lines(await ours.metrics())).toEqual(lines(await reference.metrics()));
          const values = async (h: Histogram) => {
            const { values: v, ...rest } = await h.get();
            const key = (x: (typeof v)[number]) =>
              `${x.metricName}|${Object.entries(x.labels).sort().join()}`;
            return { ...rest, values: v.sort((a, b) => (key(a) < key(b) ? -1 : 1)) };
          };
          expect(await values(fast)).toEqual(await values(plain));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reset() and remove() clear the series too', async () => {
    const observations: Obs[] = [
      { series: 0, value: 0.005, plain: false },
      { series: 1, value: 2, plain: false },
      { series: 1, value: 0.5, plain: true },
    ];
    const a = both(observations);
    a.plain.remove(LABELS[1]!);
    a.fast.remove(LABELS[1]!);
    expect(lines(await a.ours.metrics())).toEqual(lines(await a.reference.metrics()));
    a.plain.remove('p', 'a');
    a.fast.remove('p', 'a');
    expect(lines(await a.ours.metrics())).toEqual(lines(await a.reference.metrics()));
    const b = both(observations);
    b.plain.reset();
    b.fast.reset();
    expect(lines(await b.ours.metrics())).toEqual(lines(await b.reference.metrics()));
    // A series kept by its user counts again after a reset.
    const series = b.fast.series(LABELS[0]!);
    series.observe(0.05);
    b.plain.observe(LABELS[0]!, 0.05);
    expect(lines(await b.ours.metrics())).toEqual(lines(await b.reference.metrics()));
  });

  it('ignores values prom-client refuses (NaN, infinities) instead of throwing', async () => {
    const { ours, reference, fast } = both([{ series: 0, value: 0.2, plain: false }]);
    const series = fast.series(LABELS[0]!);
    series.observe(Number.NaN);
    series.observe(Number.POSITIVE_INFINITY);
    expect(lines(await ours.metrics())).toEqual(lines(await reference.metrics()));
  });
});
