import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMessage, type Message } from '../../sdk/index.js';
import { createFakeContext } from '../../../test/conformance/context.js';
import {
  createTestTransformContext,
  describeTransformConformance,
} from '../../../test/conformance/transform.js';
import { DeadbandTransform, deadbandTransform, deadbandTransformConfig } from './index.js';

const T0 = 1_700_000_000_000;

function create(config: Record<string, unknown>, redisUrl?: string): DeadbandTransform {
  const ctx = createFakeContext(redisUrl ? { redisUrl } : {});
  return deadbandTransform.create(deadbandTransformConfig.parse(config), ctx) as DeadbandTransform;
}

/** A reading on a topic, `s` seconds after T0. */
function reading(id: string, payload: unknown, s = 0, meta: Record<string, unknown> = {}): Message {
  return createMessage({ id, payload, meta: { 'mqtt.topic': 'plant/t1', ...meta }, time: T0 + s * 1000 });
}

async function passed(t: DeadbandTransform, batches: Message[][]): Promise<string[]> {
  const ids: string[] = [];
  for (const batch of batches)
    ids.push(...(await t.apply(batch, createTestTransformContext())).map((m) => m.id));
  return ids;
}

describeTransformConformance('deadband', {
  // One key per sensor: a repeat within the band of its sensor's last value is dropped.
  create: () => create({ key: '{{ meta.sensor }}', fields: ['payload.temperature'], absolute: 0.5 }),
  good: [
    reading('a', { temperature: 20 }, 0, { sensor: 'a' }),
    reading('b', { temperature: 'offline' }, 0, { sensor: 'b' }),
    reading('c', { temperature: null }, 0, { sensor: 'c' }),
  ],
  bad: [
    reading('d', { humidity: 40 }, 0, { sensor: 'd' }),
    reading('e', { temperature: Number.NaN }, 0, { sensor: 'e' }),
    reading('f', { temperature: Number.POSITIVE_INFINITY }, 0, { sensor: 'f' }),
  ],
  dropped: [
    reading('a-again', { temperature: 20.3 }, 1, { sensor: 'a' }),
    reading('b-again', { temperature: 'offline' }, 1, { sensor: 'b' }),
  ],
  // Each copy its own sensor, so the copies are firsts, not repeats.
  copy: (m, i) => ({
    ...m,
    id: `${m.id}#large${i}`,
    meta: { ...m.meta, sensor: `${String(m.meta.sensor)}#${i}` },
  }),
});

interface Golden {
  name: string;
  config: Record<string, unknown>;
  /** One inner array per batch. */
  input: Message[][];
  passed: string[];
  rejected?: Record<string, string>;
}

const golden: Golden[] = [
  {
    name: 'absolute band: passes the first value, then changes of more than the band from the last passed',
    config: { fields: ['payload.t'], absolute: 0.5 },
    input: [
      [
        reading('1', { t: 20 }),
        reading('2', { t: 20.4 }),
        reading('3', { t: 20.5 }),
        reading('4', { t: 20.6 }),
      ],
      [reading('5', { t: 20.2 }), reading('6', { t: 19.9 })],
    ],
    passed: ['1', '4', '6'],
  },
  {
    name: 'a change exactly equal to the band does not pass, despite binary rounding',
    config: { fields: ['payload.t'], absolute: 0.2 },
    input: [[reading('1', { t: 21.1 }), reading('2', { t: 21.3 }), reading('3', { t: 21.31 })]],
    passed: ['1', '3'],
  },
  {
    name: 'no band: drops repeats only (the whole payload by default)',
    config: {},
    input: [
      [
        reading('1', 7),
        reading('2', 7),
        reading('3', 7.001),
        reading('4', 'x'),
        reading('5', 'x'),
        reading('6', { a: 1 }),
        reading('7', { a: 1 }),
      ],
    ],
    passed: ['1', '3', '4', '6'],
  },
  {
    name: 'percent band, relative to the last value passed; from 0 any change passes',
    config: { fields: ['payload.p'], percent: 5 },
    input: [
      [
        reading('1', { p: 100 }),
        reading('2', { p: 104 }),
        reading('3', { p: 105.1 }),
        reading('4', { p: 0 }),
        reading('5', { p: 0.001 }),
      ],
    ],
    passed: ['1', '3', '4', '5'],
  },
  {
    name: 'maxSilence sends a heartbeat in message time, counted from the last value passed',
    config: { fields: ['payload.t'], absolute: 1, maxSilence: '60s' },
    input: [
      [
        reading('1', { t: 5 }, 0),
        reading('2', { t: 5 }, 30),
        reading('3', { t: 5 }, 59.999),
        reading('4', { t: 5 }, 60),
        reading('5', { t: 5.5 }, 100),
        reading('6', { t: 5.5 }, 120),
      ],
    ],
    passed: ['1', '4', '6'],
  },
  {
    name: 'a change of status or quality always passes, whatever the band',
    config: { fields: ['payload.value'], absolute: 100 },
    input: [
      [
        reading('1', { value: 1 }, 0, { 'opcua.nodeId': 'ns=2;s=T', 'opcua.statusCode': 'Good' }),
        reading('2', { value: 2 }, 1, { 'opcua.nodeId': 'ns=2;s=T', 'opcua.statusCode': 'Good' }),
        reading('3', { value: 2 }, 2, {
          'opcua.nodeId': 'ns=2;s=T',
          'opcua.statusCode': 'BadCommunicationError',
        }),
        reading('4', { value: null }, 3, {
          'opcua.nodeId': 'ns=2;s=T',
          'opcua.statusCode': 'BadCommunicationError',
        }),
        reading('5', { value: 3, status: 'maintenance' }, 4, {
          'opcua.nodeId': 'ns=2;s=T',
          'opcua.statusCode': 'BadCommunicationError',
        }),
      ],
    ],
    // 4: null after a number is a change of kind; 5: payload.status appeared.
    passed: ['1', '3', '4', '5'],
  },
  {
    name: 'state per key: auto uses opcua.nodeId, then chirpstack.devEui, then mqtt.topic',
    config: { fields: ['payload.v'], absolute: 1 },
    input: [
      [
        reading('1', { v: 1 }, 0, { 'mqtt.topic': 'a' }),
        reading('2', { v: 1 }, 0, { 'mqtt.topic': 'b' }),
        reading('3', { v: 1.5 }, 0, { 'mqtt.topic': 'a' }),
        reading('4', { v: 1 }, 0, { 'mqtt.topic': 'a', 'chirpstack.devEui': '0011' }),
        reading('5', { v: 3 }, 0, { 'mqtt.topic': 'b', 'chirpstack.devEui': '0011' }),
        reading('6', { v: 3 }, 0, { 'mqtt.topic': 'a', 'opcua.nodeId': 'ns=1;i=5' }),
      ],
    ],
    passed: ['1', '2', '4', '5', '6'],
  },
  {
    name: 'several fields: any one beyond the band passes, and all values passed become the reference',
    config: { key: '{{ payload.device }}', fields: ['payload.t', 'payload.rh'], absolute: 1 },
    input: [
      [
        reading('1', { device: 'd1', t: 20, rh: 50 }),
        reading('2', { device: 'd1', t: 20.5, rh: 51.5 }),
        reading('3', { device: 'd1', t: 21.2, rh: 51.6 }),
        reading('4', { device: 'd1', rh: 51.9 }),
        reading('5', { device: 'd1', t: 19 }),
        reading('6', { device: 'd2', t: 20.5, rh: 51.5 }),
      ],
    ],
    passed: ['1', '2', '5', '6'],
  },
  {
    name: 'bad input is rejected with a reason, and never becomes the reference',
    config: { fields: ['payload.t'], absolute: 1 },
    input: [
      [
        reading('1', { t: 1 }),
        reading('2', { x: 1 }),
        reading('3', { t: Number.NaN }),
        createMessage({ id: '4', payload: { t: 5 }, meta: {} }),
        reading('5', { t: 1.5 }),
      ],
    ],
    passed: ['1'],
    rejected: {
      '2': 'deadband: payload.t is missing from this message',
      '3': 'deadband: payload.t is not a finite number (NaN)',
      '4': 'deadband: no key for this message: it has none of the metadata keys opcua.nodeId, chirpstack.devEui, mqtt.topic (set key: to a template such as "{{ payload.device }}")',
    },
  },
];

describe('deadband', () => {
  it.each(golden)('$name', async ({ config, input, passed: expected, rejected }) => {
    const t = create(config);
    const ctx = createTestTransformContext();
    const ids: string[] = [];
    for (const batch of input) ids.push(...(await t.apply(batch, ctx)).map((m) => m.id));
    expect(ids).toEqual(expected);
    expect(Object.fromEntries(ctx.rejected.map((r) => [r.message.id, r.reason]))).toEqual(rejected ?? {});
  });

  it('never passes two values closer than the band within maxSilence, and passes every other', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.double({ min: -1000, max: 1000, noNaN: true }),
            fc.integer({ min: 0, max: 5000 }),
            fc.boolean(),
          ),
          { maxLength: 200 },
        ),
        fc.double({ min: 0, max: 50, noNaN: true }),
        fc.integer({ min: 0, max: 20_000 }),
        (steps, band, maxSilenceMs) => {
          const t = create({ fields: ['payload.v'], absolute: band, maxSilence: maxSilenceMs });
          let time = T0;
          const batch = steps.map(([v, dt, bad], i) => {
            time += dt;
            return createMessage({
              id: `m${i}`,
              payload: { v, status: bad ? 'bad' : 'good' },
              meta: { 'mqtt.topic': 'k' },
              time,
            });
          });
          const out = new Set((t.apply(batch, createTestTransformContext()) as Message[]).map((m) => m.id));
          let last: Message | undefined;
          for (const m of batch) {
            const v = (m.payload as { v: number; status: string }).v;
            const status = (m.payload as { status: string }).status;
            const silent = last !== undefined && (maxSilenceMs === 0 || m.time - last.time < maxSilenceMs);
            const sameStatus = last !== undefined && (last.payload as { status: string }).status === status;
            const within = last !== undefined && Math.abs(v - (last.payload as { v: number }).v) <= band;
            // Suppressed exactly when the status is the same, the band is not exceeded, and no heartbeat is due.
            expect(out.has(m.id)).toBe(!(silent && sameStatus && within));
            if (out.has(m.id)) last = m;
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('forgets the least recently seen key beyond maxKeys, and counts it', async () => {
    const ctx = createFakeContext();
    const t = deadbandTransform.create(
      deadbandTransformConfig.parse({ maxKeys: 2 }),
      ctx,
    ) as DeadbandTransform;
    const r = (id: string, topic: string) => reading(id, 1, 0, { 'mqtt.topic': topic });
    // a, b; a again (b is now the least recent); c evicts b; a unchanged (c least recent); b is new
    // again and evicts c; so c is new again (evicting a).
    expect(
      await passed(t, [
        [r('1', 'a'), r('2', 'b'), r('3', 'a'), r('4', 'c'), r('5', 'a'), r('6', 'b'), r('7', 'c')],
      ]),
    ).toEqual(['1', '2', '4', '6', '7']);
    expect(t.memory.size).toBe(2);
    expect(await ctx.registry.getSingleMetricAsString('passerelle_deadband_evicted_keys_total')).toContain(
      '} 3',
    );
    expect(ctx.logs.filter((l) => l.level === 'warn')).toHaveLength(1);
  });

  it('refuses a huge key and a huge value costs only its hash in the state', async () => {
    const t = create({ key: '{{ payload.device }}', fields: ['payload.text'] });
    const ctx = createTestTransformContext();
    const big = 'x'.repeat(1_000_000);
    const out = await t.apply(
      [
        reading('k', { device: big, text: 'a' }),
        reading('v1', { device: 'd', text: big }),
        reading('v2', { device: 'd', text: big }),
        reading('v3', { device: 'd', text: `${big}y` }),
      ],
      ctx,
    );
    expect(out.map((m) => m.id)).toEqual(['v1', 'v3']);
    expect(ctx.rejected.map((r) => r.reason)).toEqual([
      'deadband: the key is 1000000 characters long (at most 1024): is key: {{ payload.device }} the right key?',
    ]);
  });

  it('refuses wildcards in fields and status, saying why and what to write instead', () => {
    const issues = (config: unknown) =>
      deadbandTransformConfig.safeParse(config).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ fields: ['payload.t', 'payload.rooms[*].t'] })).toEqual([
      'fields.1: "payload.rooms[*].t" has a wildcard ([*] or *), which matches several values: deadband keeps one last value per path, so list each path (such as payload.rooms[0].t)',
    ]);
    expect(issues({ status: ['payload.*.quality'] })).toEqual([
      'status.0: "payload.*.quality" has a wildcard ([*] or *), which matches several values: deadband keeps one last value per path, so list each path (such as payload.a.quality)',
    ]);
  });

  it('refuses a broken config with a clear message', () => {
    const issues = (config: unknown) =>
      deadbandTransformConfig.safeParse(config).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ absolute: 1, percent: 2 })).toEqual([
      'percent: give either absolute or percent, not both',
    ]);
    expect(issues({ key: 'device' })?.[0]).toContain(
      'key must be auto, topic, nodeId, devEui or a {{ }} template',
    );
    expect(issues({ key: '{{ nope.x }}' })?.[0]).toContain('unknown name "nope"');
    expect(issues({ absolute: -1 })?.[0]).toMatch(/^absolute: /);
    expect(issues({ maxSilence: 'soon' })?.[0]).toContain('expected a duration');
    expect(issues({ fields: [] })?.[0]).toMatch(/^fields: /);
    expect(issues({ stateTtl: '10ms' })).toEqual(['stateTtl: stateTtl must be at least 1s']);
    expect(issues({ band: 1 })?.[0]).toContain('band');
    for (const example of deadbandTransform.examples ?? [])
      expect(deadbandTransformConfig.safeParse(example).success).toBe(true);
  });
});
