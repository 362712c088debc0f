import fc from 'fast-check';
import ngeohash from 'ngeohash';
import { describe, expect, it } from 'vitest';
import { createMessage, type Message } from '../../sdk/index.js';
import {
  createTestTransformContext,
  describeTransformConformance,
} from '../../../test/conformance/transform.js';
import { roundToDecimals, roundToStep } from './generalize.js';
import { generalizeTransform, generalizeTransformConfig } from './index.js';
import { testComponentContext } from '../../../test/conformance/transform-cases.js';

const componentCtx = testComponentContext();
const create = (config: Record<string, unknown>) =>
  generalizeTransform.create(generalizeTransformConfig.parse(config), componentCtx);

// 2023-11-14T22:13:20.000Z
const TIME = 1_700_000_000_000;
const message = (id: string, payload: unknown, time = TIME): Message =>
  createMessage({ id, payload, meta: { 'mqtt.topic': 't' }, time });

interface Case {
  name: string;
  config: Record<string, unknown>;
  payload: unknown;
  time?: number;
  expected: { payload: unknown; time?: number } | { rejected: string };
}

const cases: Case[] = [
  {
    name: 'numbers to a step, halves away from zero, no float noise',
    config: {
      numbers: [
        { path: 'payload.power', step: 100 },
        { path: 'payload.rooms[*].t', step: 0.5 },
        { path: 'payload.x', step: 0.1 },
      ],
    },
    payload: { power: 1250, rooms: [{ t: 21.26 }, { t: -0.25 }, { t: 0.2 }], x: 0.35 },
    expected: { payload: { power: 1300, rooms: [{ t: 21.5 }, { t: -0.5 }, { t: 0 }], x: 0.4 } },
  },
  {
    name: 'coordinates to decimal places',
    config: { locations: [{ at: 'payload.gps', decimals: 2 }] },
    payload: { gps: { lat: 48.858844, lon: 2.294351, alt: 35 } },
    expected: { payload: { gps: { lat: 48.86, lon: 2.29, alt: 35 } } },
  },
  {
    name: 'coordinates to the centre of a geohash cell, keys named otherwise, in every item',
    config: { locations: [{ at: 'payload.points[*]', latitude: 'la', longitude: 'lo', geohash: 5 }] },
    payload: { points: [{ la: 48.858844, lo: 2.294351 }] },
    // u09tu: the cell of the Eiffel Tower at precision 5 (ngeohash.decode('u09tu')).
    expected: { payload: { points: [{ la: 48.84521484375, lo: 2.30712890625 }] } },
  },
  {
    name: 'timestamps truncated, keeping their shape and offset',
    config: {
      timestamps: [
        { path: 'payload.a', truncate: 'hour' },
        { path: 'payload.b', truncate: 'minute' },
        { path: 'payload.c', truncate: 'day' },
        { path: 'payload.d', truncate: 'hour', unit: 's' },
      ],
    },
    payload: { a: '2024-03-01T10:37:12Z', b: '2024-03-01T10:37:12.345+05:30', c: TIME, d: 1_700_000_000 },
    expected: {
      payload: {
        a: '2024-03-01T10:00:00Z',
        b: '2024-03-01T10:37:00+05:30',
        c: Date.UTC(2023, 10, 14),
        d: 1_699_999_200,
      },
    },
  },
  {
    name: 'days start in the configured time zone',
    config: {
      timestamps: [{ path: 'payload.at', truncate: 'day' }],
      time: { truncate: 'day' },
      timeZone: 'Europe/Paris',
    },
    payload: { at: '2023-11-14T23:30:00Z' },
    time: Date.UTC(2023, 10, 14, 23, 30),
    // 23:30 UTC is 00:30 on the 15th in Paris: the day starts at 23:00 UTC on the 14th.
    expected: { payload: { at: '2023-11-14T23:00:00Z' }, time: Date.UTC(2023, 10, 14, 23) },
  },
  {
    name: 'the message time truncated',
    config: { time: { truncate: 'hour' } },
    payload: 'anything',
    expected: { payload: 'anything', time: Date.UTC(2023, 10, 14, 22) },
  },
  {
    name: 'a missing field is skipped by default',
    config: {
      numbers: [{ path: 'payload.power', step: 10 }],
      locations: [{ at: 'payload.gps', decimals: 1 }],
    },
    payload: { other: 1 },
    expected: { payload: { other: 1 } },
  },
  {
    name: 'a missing field rejects with missing: reject',
    config: { numbers: [{ path: 'payload.power', step: 10 }], missing: 'reject' },
    payload: { other: 1 },
    expected: { rejected: 'generalize: payload.power is missing' },
  },
  {
    name: 'a string where a number is expected',
    config: { numbers: [{ path: 'payload.power', step: 10 }] },
    payload: { power: '1250' },
    expected: { rejected: 'generalize: payload.power is a string, not a finite number' },
  },
  {
    name: 'infinity',
    config: { numbers: [{ path: 'payload.power', step: 10 }] },
    payload: { power: Number.POSITIVE_INFINITY },
    expected: { rejected: 'generalize: payload.power is Infinity, not a finite number' },
  },
  {
    name: 'half a coordinate is rejected, never passed on exact',
    config: { locations: [{ at: 'payload', decimals: 1 }] },
    payload: { lat: 48.858844 },
    expected: { rejected: 'generalize: payload has only one of lat and lon' },
  },
  {
    name: 'a position written otherwise is rejected, not passed on exact',
    config: { locations: [{ at: 'payload.gps.fix', decimals: 1 }] },
    payload: { gps: '48.858844,2.294351' },
    expected: {
      rejected:
        'generalize: payload.gps is a string, not an object or array, so payload.gps.fix can not be looked up in it',
    },
  },
  {
    name: 'a latitude out of range',
    config: { locations: [{ at: 'payload', geohash: 4 }] },
    payload: { lat: 91, lon: 0 },
    expected: { rejected: 'generalize: payload.lat is 91, outside -90..90' },
  },
  {
    name: 'a timestamp that is not one',
    config: { timestamps: [{ path: 'payload.at', truncate: 'hour' }] },
    payload: { at: 'yesterday' },
    expected: { rejected: 'generalize: payload.at: the input "yesterday" can\'t be parsed as ISO 8601' },
  },
  {
    name: 'a huge string where a timestamp is expected',
    config: { timestamps: [{ path: 'payload.at', truncate: 'hour' }] },
    payload: { at: '2'.repeat(1_000_000) },
    expected: { rejected: 'generalize: payload.at is a string of 1000000 characters, not a timestamp' },
  },
  {
    name: 'bytes when fields are to be generalized',
    config: { numbers: [{ path: 'payload.power', step: 10 }] },
    payload: new Uint8Array([1]),
    expected: {
      rejected:
        "generalize: the payload is bytes, not a JSON object or array, so its fields can not be generalized: decode it first (e.g. the MQTT source's payload: json)",
    },
  },
];

describe('generalize', () => {
  it.each(cases)('golden: $name', async ({ config, payload, time, expected }) => {
    const ctx = createTestTransformContext();
    const input = message('m', payload, time);
    const out = await create(config).apply([input], ctx);
    if ('rejected' in expected) {
      expect(out).toEqual([]);
      expect(ctx.rejected.map((r) => r.reason)).toEqual([expected.rejected]);
      return;
    }
    expect(ctx.rejected).toEqual([]);
    expect(out).toEqual([{ ...input, payload: expected.payload, time: expected.time ?? input.time }]);
  });

  it('rounds to a multiple of the step, never further than half a step', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e9, max: 1e9, noNaN: true }),
        fc.constantFrom(0.01, 0.1, 0.25, 0.5, 1, 5, 10, 100, 1000),
        (value, step) => {
          const r = roundToStep(value, step);
          expect(Math.abs(r - value)).toBeLessThanOrEqual(step / 2 + 1e-6 * Math.max(1, Math.abs(value)));
          const multiple = r / step;
          expect(Math.abs(multiple - Math.round(multiple))).toBeLessThan(1e-6);
          expect(roundToStep(r, step)).toBe(r);
        },
      ),
      { numRuns: 500 },
    );
    expect(roundToDecimals(2.675, 2)).toBe(2.68);
    expect(roundToDecimals(-1.005, 2)).toBe(-1.01);
  });

  it('keeps a coarsened point within its cell or rounding distance', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -90, max: 90, noNaN: true }),
        fc.double({ min: -180, max: 180, noNaN: true }),
        fc.integer({ min: 1, max: 9 }),
        (lat, lon, precision) => {
          const [gh] = create({ locations: [{ at: 'payload', geohash: precision }] }).apply(
            [message('m', { lat, lon })],
            createTestTransformContext(),
          ) as Message[];
          const p = gh?.payload as { lat: number; lon: number };
          expect(ngeohash.encode(p.lat, p.lon, precision)).toBe(ngeohash.encode(lat, lon, precision));
          const [dec] = create({ locations: [{ at: 'payload', decimals: 2 }] }).apply(
            [message('m', { lat, lon })],
            createTestTransformContext(),
          ) as Message[];
          const d = dec?.payload as { lat: number; lon: number };
          expect(Math.abs(d.lat - lat)).toBeLessThanOrEqual(0.005 + 1e-9);
          expect(Math.abs(d.lon - lon)).toBeLessThanOrEqual(0.005 + 1e-9);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('jitters the message time forward by less than the jitter, after truncating', () => {
    const t = create({ time: { truncate: 'minute', jitter: '10s' } });
    const times = new Set<number>();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), (time) => {
        const [out] = t.apply([message('m', 1, time)], createTestTransformContext()) as Message[];
        const start = Math.floor(time / 60_000) * 60_000;
        expect(out!.time).toBeGreaterThanOrEqual(start);
        expect(out!.time).toBeLessThan(start + 10_000);
        times.add(out!.time - start);
      }),
      { numRuns: 300 },
    );
    // Random, not a constant offset.
    expect(times.size).toBeGreaterThan(100);
  });

  it('refuses configs with clear reasons', () => {
    const issues = (config: Record<string, unknown>) =>
      generalizeTransformConfig
        .safeParse(config)
        .error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({})).toEqual([': nothing to generalize: give numbers, locations, timestamps or time']);
    expect(issues({ numbers: [{ path: 'payload.a', step: 0 }] })?.[0]).toMatch(/^numbers.0.step: /);
    expect(issues({ locations: [{ at: 'payload' }] })).toEqual([
      'locations.0.decimals: give either decimals or geohash',
    ]);
    expect(issues({ locations: [{ at: 'payload', decimals: 2, geohash: 5 }] })).toEqual([
      'locations.0.decimals: give either decimals or geohash',
    ]);
    expect(issues({ time: { truncate: 'week' } })?.[0]).toMatch(/^time.truncate: /);
    expect(issues({ time: { truncate: 'day' }, timeZone: 'Europe/Pariss' })).toEqual([
      'timeZone: expected an IANA time zone such as UTC or Europe/Paris',
    ]);
    for (const example of generalizeTransform.examples ?? [])
      expect(generalizeTransformConfig.safeParse(example).success).toBe(true);
  });
});

describeTransformConformance('generalize', {
  neverDrops:
    'it coarsens fields of every message (a missing field is skipped, the message kept) or rejects it',
  create: () =>
    create({
      numbers: [{ path: 'payload.power', step: 10 }],
      locations: [{ at: 'payload.gps', decimals: 2 }],
      time: { truncate: 'minute' },
    }),
  good: [
    message('g1', { power: 1234, gps: { lat: 1.23456, lon: 2.34567 } }),
    message('g2', { other: true }),
    message('g3', [1, 2]),
  ],
  bad: [message('b1', { power: 'x' }), message('b2', 'text'), message('b3', { gps: { lat: 1 } })],
});
