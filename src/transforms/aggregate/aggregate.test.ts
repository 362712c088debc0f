import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMessage, type Message, type Transform } from '../../sdk/index.js';
import { createFakeContext } from '../../../test/conformance/context.js';
import {
  createTestTransformContext,
  describeTransformConformance,
} from '../../../test/conformance/transform.js';
import { AggregateTransform, aggregateTransform, aggregateTransformConfig } from './index.js';

const T0 = Date.UTC(2026, 10, 25, 14, 0, 0);

function create(config: Record<string, unknown>): AggregateTransform {
  return aggregateTransform.create(
    aggregateTransformConfig.parse(config),
    createFakeContext(),
  ) as AggregateTransform;
}

const reading = (
  id: string,
  payload: unknown,
  s: number,
  topic = 'line/1/t',
  meta: Record<string, unknown> = {},
): Message => createMessage({ id, payload, meta: { 'mqtt.topic': topic, ...meta }, time: T0 + s * 1000 });

/*
 * The conformance suite expects outputs from apply(): here apply() absorbs and flush() emits, so the
 * suite runs both together, with one window per message id (every good message gets its output).
 */
describeTransformConformance('aggregate (apply + flush)', {
  // One window per id: its output is `<id>~<window start>`.
  derivedId: (m) => `${m.id}~${Math.floor(m.time / 60_000) * 60_000}`,
  neverDrops:
    "every message is counted in its window's output (absorbed, not left out) or rejected; late messages are rejected",
  create: (): Transform => {
    const t = create({ key: '{{ id }}', fields: ['payload.t'], window: '1m' });
    return {
      apply: (batch, ctx) => [...t.apply(batch, ctx), ...t.flush(Number.POSITIVE_INFINITY)],
      close: () => t.close(),
    };
  },
  good: [reading('a', { t: 1 }, 0), reading('b', { t: -2.5, rh: 'x' }, 30)],
  bad: [
    reading('d', { t: 'warm' }, 0),
    reading('e', { t: Number.NaN }, 0),
    reading('f', { rh: 1 }, 0),
    reading('g', 7, 0),
  ],
});

interface Golden {
  name: string;
  config: Record<string, unknown>;
  /** Messages applied before each flush (the first batch, then one per flush after it). */
  input: Message[][];
  /** Host clock (seconds after T0) at each flush, in order. */
  flushes: number[];
  /** Payloads emitted per flush. */
  expected: Record<string, unknown>[][];
  rejected?: Record<string, string>;
}

const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

const golden: Golden[] = [
  {
    name: 'count, min, max, mean per field per window; emitted once the window is over (plus lateness)',
    config: { window: '1m', fields: ['payload.t', 'payload.rh'] },
    input: [
      [
        reading('1', { t: 20, rh: 50 }, 1),
        reading('2', { t: 22 }, 30),
        reading('3', { t: 21, rh: 52 }, 59.999),
        reading('4', { t: 30, rh: 40 }, 60),
      ],
    ],
    flushes: [60.5, 61, 200],
    expected: [
      [],
      [
        {
          key: 'line/1/t',
          windowStart: iso(0),
          windowEnd: iso(60),
          count: 3,
          t: { count: 3, min: 20, max: 22, mean: 21 },
          rh: { count: 2, min: 50, max: 52, mean: 51 },
        },
      ],
      [
        {
          key: 'line/1/t',
          windowStart: iso(60),
          windowEnd: iso(120),
          count: 1,
          t: { count: 1, min: 30, max: 30, mean: 30 },
          rh: { count: 1, min: 40, max: 40, mean: 40 },
        },
      ],
    ],
  },
  {
    name: 'sum, first and last by message time, whatever the arrival order; one window per key',
    config: { window: '10s', functions: ['sum', 'first', 'last', 'count'], lateness: 0 },
    input: [
      [
        reading('1', 5, 3),
        reading('2', 1, 1),
        reading('3', 9, 8),
        reading('4', 2, 8),
        reading('5', 100, 2, 'line/2/t'),
      ],
    ],
    flushes: [10],
    expected: [
      [
        {
          key: 'line/1/t',
          windowStart: iso(0),
          windowEnd: iso(10),
          count: 4,
          value: { sum: 17, first: 1, last: 2, count: 4 },
        },
        {
          key: 'line/2/t',
          windowStart: iso(0),
          windowEnd: iso(10),
          count: 1,
          value: { sum: 100, first: 100, last: 100, count: 1 },
        },
      ],
    ],
  },
  {
    name: 'a field absent from every message of a window gives null figures and count 0',
    config: { window: '1m', key: 'none', fields: ['payload.a', 'payload.b'], functions: ['count', 'mean'] },
    input: [[reading('1', { a: 1 }, 0, 'x'), reading('2', { a: 3, b: null }, 1, 'y')]],
    flushes: [100],
    expected: [
      [
        {
          key: '*',
          windowStart: iso(0),
          windowEnd: iso(60),
          count: 2,
          a: { count: 2, mean: 2 },
          b: { count: 0, mean: null },
        },
      ],
    ],
  },
  {
    name: 'a late message reopens its window, emitted again at the next flush with what came late',
    config: { window: '1m', fields: ['payload.t'], functions: ['count', 'max'] },
    input: [[reading('1', { t: 1 }, 10)], [reading('late', { t: 7 }, 20)]],
    flushes: [70, 71],
    expected: [
      [{ key: 'line/1/t', windowStart: iso(0), windowEnd: iso(60), count: 1, t: { count: 1, max: 1 } }],
      [{ key: 'line/1/t', windowStart: iso(0), windowEnd: iso(60), count: 1, t: { count: 1, max: 7 } }],
    ],
  },
  {
    name: 'bad input is rejected with a reason and counts in no window',
    config: { window: '1m', key: 'devEui', fields: ['payload.t'] },
    input: [
      [
        reading('ok', { t: 1 }, 0, 'a', { 'chirpstack.devEui': '00aa' }),
        reading('string', { t: '21.5' }, 0, 'a', { 'chirpstack.devEui': '00aa' }),
        reading('inf', { t: Number.NEGATIVE_INFINITY }, 0, 'a', { 'chirpstack.devEui': '00aa' }),
        reading('missing', { rh: 1 }, 0, 'a', { 'chirpstack.devEui': '00aa' }),
        reading('nokey', { t: 1 }, 0, 'a'),
        reading('future', { t: 1 }, 86_400 * 365, 'a', { 'chirpstack.devEui': '00aa' }),
      ],
    ],
    flushes: [100],
    expected: [
      [
        {
          key: '00aa',
          windowStart: iso(0),
          windowEnd: iso(60),
          count: 1,
          t: { count: 1, min: 1, max: 1, mean: 1 },
        },
      ],
    ],
    rejected: {
      string: 'aggregate: payload.t is a string ("21.5"), not a number',
      inf: 'aggregate: payload.t is not a finite number (-Infinity)',
      missing: 'aggregate: payload.t is missing from this message',
      nokey:
        'aggregate: no key for this message: key: devEui reads the metadata key chirpstack.devEui, which it does not have',
      future: `aggregate: the message time ${new Date(T0 + 86_400 * 365 * 1000).toISOString()} is more than 1h ahead of this host\u2019s clock (its window would stay open until then): check the device clock`,
    },
  },
];

describe('aggregate', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
  });
  afterEach(() => vi.useRealTimers());

  it.each(golden)('$name', ({ config, input, flushes, expected, rejected }) => {
    const t = create(config);
    const ctx = createTestTransformContext();
    const emitted = flushes.map((s, i) => {
      expect(t.apply(input[i] ?? [], ctx)).toEqual([]);
      return t.flush(T0 + s * 1000).map((m) => m.payload as Record<string, unknown>);
    });
    expect(emitted).toEqual(expected);
    expect(Object.fromEntries(ctx.rejected.map((r) => [r.message.id, r.reason]))).toEqual(rejected ?? {});
  });

  it('emits messages carrying the first message meta, window metadata, and a stable id', () => {
    const t = create({ window: '1m' });
    t.apply(
      [reading('m1', 1, 5, 'a', { 'mqtt.qos': 1 }), reading('m2', 2, 6, 'a', { 'mqtt.qos': 0 })],
      createTestTransformContext(),
    );
    const [out] = t.flush(T0 + 61_000);
    expect(out).toEqual({
      id: `m1~${T0}`,
      time: T0,
      payload: expect.objectContaining({ count: 2 }),
      meta: {
        'mqtt.topic': 'a',
        'mqtt.qos': 1,
        'aggregate.key': 'a',
        'aggregate.windowStart': T0,
        'aggregate.windowEnd': T0 + 60_000,
        'aggregate.count': 2,
      },
    });
  });

  it('emits every open window at stop (now = Infinity), marked partial when it had not ended', () => {
    const t = create({ window: '1h' });
    t.apply([reading('a', 1, 0)], createTestTransformContext());
    expect(t.flush(T0 + 5_000)).toEqual([]);
    const [out] = t.flush(Number.POSITIVE_INFINITY);
    expect(out?.meta['aggregate.partial']).toBe(true);
    expect(t.flush(Number.POSITIVE_INFINITY)).toEqual([]);
  });

  it('bounds the open windows with maxWindows, and the gauge tells how many are open', async () => {
    const ctx = createFakeContext();
    const t = aggregateTransform.create(
      aggregateTransformConfig.parse({ maxWindows: 2, key: '{{ payload.k }}', fields: ['payload.v'] }),
      ctx,
    ) as AggregateTransform;
    const tctx = createTestTransformContext();
    t.apply(
      [1, 2, 3, 1].map((k, i) => reading(`m${i}`, { k, v: i }, 0)),
      tctx,
    );
    expect(tctx.rejected.map((r) => r.message.id)).toEqual(['m2']);
    expect(tctx.rejected[0]!.reason).toBe(
      'aggregate: 2 windows are open already (maxWindows 2): too many keys, or message times spread too widely',
    );
    expect(await ctx.registry.getSingleMetricAsString('passerelle_aggregate_open_windows')).toContain('} 2');
    t.flush(Number.POSITIVE_INFINITY);
    expect(await ctx.registry.getSingleMetricAsString('passerelle_aggregate_open_windows')).toContain('} 0');
  });

  it('refuses a huge key, and a huge string where a number should be, with a short reason', () => {
    const t = create({ key: '{{ payload.device }}', fields: ['payload.t'] });
    const ctx = createTestTransformContext();
    const huge = 'x'.repeat(1_000_000);
    t.apply([reading('k', { device: huge, t: 1 }, 0), reading('v', { device: 'd', t: huge }, 0)], ctx);
    expect(ctx.rejected.map((r) => r.reason)).toEqual([
      'aggregate: the key is 1000000 characters long (at most 1024): is key: {{ payload.device }} the right key?',
      `aggregate: payload.t is a string ("${'x'.repeat(40)}…"), not a number`,
    ]);
    expect(t.flush(Number.POSITIVE_INFINITY)).toEqual([]);
  });

  it('asks the engine to flush often enough for its window', () => {
    expect(create({ window: '200ms' }).flushEvery).toBe(100);
    expect(create({ window: '5s' }).flushEvery).toBe(500);
    expect(create({ window: '1h' }).flushEvery).toBe(1000);
  });

  it('accounts for every number: counts add up, mean within [min, max], sum exact within rounding', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 600_000 }),
            fc.double({ min: -1e9, max: 1e9, noNaN: true }),
            fc.constantFrom('a', 'b'),
          ),
          { maxLength: 300 },
        ),
        (points) => {
          const t = create({
            window: '1m',
            key: '{{ payload.k }}',
            fields: ['payload.v'],
            functions: ['count', 'min', 'max', 'mean', 'sum'],
          });
          t.apply(
            points.map(([ms, v, k], i) =>
              createMessage({ id: `p${i}`, payload: { v, k }, meta: {}, time: T0 + ms }),
            ),
            createTestTransformContext(),
          );
          const out = t
            .flush(Number.POSITIVE_INFINITY)
            .map(
              (m) =>
                m.payload as { count: number; key: string; windowStart: string; v: Record<string, number> },
            );
          expect(out.reduce((n, w) => n + w.count, 0)).toBe(points.length);
          for (const w of out) {
            const inWindow = points
              .filter(
                ([ms, , k]) =>
                  k === w.key &&
                  new Date(T0 + Math.floor(ms / 60_000) * 60_000).toISOString() === w.windowStart,
              )
              .map(([, v]) => v);
            expect(w.v.count).toBe(inWindow.length);
            expect(w.v.min).toBe(Math.min(...inWindow));
            expect(w.v.max).toBe(Math.max(...inWindow));
            expect(w.v.mean).toBeGreaterThanOrEqual(w.v.min! - 1e-6);
            expect(w.v.mean).toBeLessThanOrEqual(w.v.max! + 1e-6);
            const exact = inWindow.reduce((s, v) => s + v, 0);
            expect(Math.abs(w.v.sum! - exact)).toBeLessThanOrEqual(
              1e-6 * Math.max(1, ...inWindow.map(Math.abs)),
            );
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses a broken config with a clear message', () => {
    const issues = (config: unknown) =>
      aggregateTransformConfig
        .safeParse(config)
        .error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ window: '10ms' })).toEqual(['window: window must be at least 100ms']);
    expect(issues({ window: '40d' })).toEqual(['window: window must be at most 31d']);
    expect(issues({ functions: ['median'] })?.[0]).toMatch(/^functions\.0: /);
    expect(issues({ fields: ['payload.a', 'payload.a'] })).toEqual(['fields: a field is listed twice']);
    // One output name per path: a wildcard would name outputs after the data.
    expect(issues({ fields: ['payload.rooms[*].t'] })).toEqual([
      'fields.0: "payload.rooms[*].t" has a wildcard ([*] or *), which matches several values: aggregate names each output after one path, so list each path (such as payload.rooms[0].t)',
    ]);
    expect(issues({ key: 'device' })?.[0]).toContain(
      'key must be auto, topic, nodeId, devEui, none or a {{ }} template',
    );
    expect(issues({ windows: '1m' })?.[0]).toContain('windows');
    for (const example of aggregateTransform.examples ?? [])
      expect(aggregateTransformConfig.safeParse(example).success).toBe(true);
  });
});
