import { describe, expect, it } from 'vitest';
import { createMessage, type Message } from '../../sdk/index.js';
import {
  createTestTransformContext,
  describeTransformConformance,
} from '../../../test/conformance/transform.js';
import { testCreate } from '../../../test/conformance/transform-cases.js';
import { mapTransform, mapTransformConfig } from './index.js';

const create = testCreate(mapTransform);

const reading = (id: string, payload: unknown, meta: Record<string, unknown> = {}): Message =>
  createMessage({ id, payload, meta: { 'mqtt.topic': `plant/${id}`, ...meta }, time: 1_700_000_000_000 });

describeTransformConformance('map', {
  neverDrops: 'an expression that gives no value rejects the message (no silent drop)',
  create: () =>
    create({
      expression: '{ "device": payload.device, "fahrenheit": payload.temperature * 9 / 5 + 32 }',
      meta: { unit: '"F"' },
    }),
  good: [
    reading('a', { device: 'd1', temperature: 20 }),
    reading('b', { device: 'd2', temperature: -3.5, extra: [1, 2] }),
  ],
  bad: [
    reading('c', { device: 'd3', temperature: 'hot' }),
    reading('d', 'not an object'),
    reading('e', new Uint8Array([1, 2])),
  ],
});

describeTransformConformance('map (fast path)', {
  neverDrops: 'an expression that gives no value rejects the message (no silent drop)',
  create: () => create({ expression: '{ "t": payload.sensor.temperature, "unit": payload.sensor.unit }' }),
  good: [
    reading('a', { sensor: { temperature: 1 } }),
    reading('b', { sensor: { unit: 'K', temperature: { nested: true } } }),
  ],
  bad: [reading('c', { other: 1 }), reading('d', 42), reading('e', null)],
});

describe('map', () => {
  it('computes the payload from the envelope { payload, meta, id, time }, and $meta, $id, $time', async () => {
    const t = create({
      expression:
        '{ "device": payload.device, "f": payload.temperature * 9 / 5 + 32, "topic": meta.`mqtt.topic`, "id": id, "at": time, "t2": $meta.`mqtt.topic`, "id2": $id, "at2": $time }',
    });
    const ctx = createTestTransformContext();
    const [out] = await t.apply([reading('m1', { device: 'd1', temperature: 100 })], ctx);
    expect(out).toEqual({
      id: 'm1',
      payload: {
        device: 'd1',
        f: 212,
        topic: 'plant/m1',
        id: 'm1',
        at: 1_700_000_000_000,
        t2: 'plant/m1',
        id2: 'm1',
        at2: 1_700_000_000_000,
      },
      meta: { 'mqtt.topic': 'plant/m1' },
      time: 1_700_000_000_000,
    });
  });

  it('rejects a payload of the wrong shape with a readable reason, and its neighbours pass', async () => {
    const t = create({ expression: 'payload.temperature * 9 / 5 + 32' });
    const ctx = createTestTransformContext();
    const batch = [
      reading('ok1', { temperature: 0 }),
      reading('bad', { temperature: 'warm' }),
      reading('ok2', { temperature: 100 }),
    ];
    const out = await t.apply(batch, ctx);
    expect(out.map((m) => m.payload)).toEqual([32, 212]);
    expect(ctx.rejected).toHaveLength(1);
    expect(ctx.rejected[0]?.message.id).toBe('bad');
    expect(ctx.rejected[0]?.reason).toBe(
      'map: the payload expression `payload.temperature * 9 / 5 + 32` failed: The left side of the "*" operator must evaluate to a number (JSONata T2001 at character 21)',
    );
  });

  it('rejects a message for which the expression gives no value', async () => {
    const t = create({ expression: 'payload.sensor.value' });
    const ctx = createTestTransformContext();
    const out = await t.apply([reading('x', { sensor: {} }), reading('y', { sensor: { value: 0 } })], ctx);
    expect(out.map((m) => m.payload)).toEqual([0]);
    expect(ctx.rejected[0]?.reason).toBe(
      'map: the payload expression `payload.sensor.value` gave no value for this message (a field it reads is missing? the expression is evaluated on { payload, meta, id, time }: read a payload field as `payload.<field>`)',
    );
  });

  it('rejects an empty object: none of the fields the expression reads is there', async () => {
    const t = create({ expression: '{ "c": payload.temperature, "d": payload.device }' });
    const ctx = createTestTransformContext();
    const out = await t.apply(
      [reading('shape', { temp: 1, dev: 'x' }), reading('partial', { device: 'x' })],
      ctx,
    );
    expect(out.map((m) => m.payload)).toEqual([{ d: 'x' }]);
    expect(ctx.rejected.map((r) => r.reason)).toEqual([
      'map: the payload expression `{ "c": payload.temperature, "d": payload.device }` gave an empty object for this message (none of the fields it reads is there? the expression is evaluated on { payload, meta, id, time }: read a payload field as `payload.<field>`)',
    ]);
  });

  it('rejects with the reason given to $assert, for fields that must be there', async () => {
    const t = create({
      expression:
        '($assert($exists(payload.temperature), "no temperature in payload"); { "c": payload.temperature, "d": payload.device })',
    });
    const ctx = createTestTransformContext();
    const out = await t.apply(
      [reading('partial', { device: 'x' }), reading('full', { device: 'x', temperature: 3 })],
      ctx,
    );
    expect(out.map((m) => m.id)).toEqual(['full']);
    expect(ctx.rejected[0]?.reason).toContain('failed: no temperature in payload');
  });

  it('says where the expression is evaluated when a field read at the top gives nothing', async () => {
    const ctx = createTestTransformContext();
    const t = create({ expression: 'temperature', meta: { unit: '{ "u": unit }' } });
    await t.apply([reading('m', { temperature: 1, unit: 'C' })], ctx);
    expect(ctx.rejected[0]?.reason).toBe(
      'map: the payload expression `temperature` gave no value for this message (a field it reads is missing? the expression is evaluated on { payload, meta, id, time }: read a payload field as `payload.<field>`)',
    );
    const meta = createTestTransformContext();
    await create({ expression: 'payload', meta: { unit: '{ "u": unit }' } }).apply(
      [reading('m', { unit: 'C' })],
      meta,
    );
    expect(meta.rejected[0]?.reason).toBe(
      'map: meta "unit" expression `{ "u": unit }` gave an empty object for this message (none of the fields it reads is there? the expression is evaluated on { payload, meta, id, time }: read a payload field as `payload.<field>`)',
    );
  });

  it('runs the README examples', async () => {
    const run = async (
      config: Record<string, unknown>,
      payload: unknown,
      meta: Record<string, unknown> = {},
    ): Promise<Message | undefined> => {
      const ctx = createTestTransformContext();
      const [out] = await create(config).apply([createMessage({ id: 'r', payload, meta, time: 0 })], ctx);
      expect(ctx.rejected).toEqual([]);
      return out;
    };
    expect(
      (
        await run(
          { expression: '$merge([payload, {"temperatureF": payload.temperature * 9 / 5 + 32}])' },
          { device: 'd', temperature: 20 },
        )
      )?.payload,
    ).toEqual({ device: 'd', temperature: 20, temperatureF: 68 });
    expect(
      (
        await run(
          {
            expression:
              '{ "device": payload.device, "celsius": payload.temperature, "fahrenheit": payload.temperature * 9 / 5 + 32, "topic": meta.`mqtt.topic` }',
          },
          { device: 'd', temperature: 100 },
          { 'mqtt.topic': 'plant/a/d' },
        )
      )?.payload,
    ).toEqual({ device: 'd', celsius: 100, fahrenheit: 212, topic: 'plant/a/d' });
    expect((await run({ expression: 'payload.object' }, { object: { t: 1 } }))?.payload).toEqual({ t: 1 });
    expect(
      (
        await run(
          { expression: '$merge(payload.readings.{ name: value })' },
          {
            readings: [
              { name: 'a', value: 1 },
              { name: 'b', value: 2 },
            ],
          },
        )
      )?.payload,
    ).toEqual({ a: 1, b: 2 });
    expect(
      (await run({ expression: '$merge([payload, { "at": $fromMillis(time) }])' }, { t: 1 }))?.payload,
    ).toEqual({ t: 1, at: '1970-01-01T00:00:00.000Z' });
    const withMeta = await run(
      {
        expression: 'payload',
        meta: {
          'mqtt.topic': '"site/" & meta.`chirpstack.devEui` & "/" & payload.device',
          'mqtt.retain': 'true',
          'chirpstack.rxInfo': 'null',
        },
      },
      { device: 'd' },
      { 'chirpstack.devEui': '0011', 'chirpstack.rxInfo': [1] },
    );
    expect(withMeta?.meta).toEqual({
      'chirpstack.devEui': '0011',
      'mqtt.topic': 'site/0011/d',
      'mqtt.retain': true,
    });
    for (const example of mapTransform.examples ?? [])
      expect(mapTransformConfig.safeParse(example).success).toBe(true);
  });

  it('sets and removes metadata keys from expressions of the original message', async () => {
    const t = create({
      expression: 'payload',
      meta: {
        'mqtt.topic': '"out/" & payload.device',
        'mqtt.retain': 'true',
        'mqtt.qos': 'null',
        site: 'meta.site & "-" & $string(payload.seq) & "-" & $meta.`mqtt.topic`',
      },
    });
    const ctx = createTestTransformContext();
    const input = reading('m', { device: 'd9', seq: 4 }, { 'mqtt.qos': 1, site: 'A' });
    const [out] = await t.apply([input], ctx);
    expect(out?.meta).toEqual({ 'mqtt.topic': 'out/d9', 'mqtt.retain': true, site: 'A-4-plant/m' });
    expect(out?.payload).toBe(input.payload);
    expect(input.meta).toEqual({ 'mqtt.topic': 'plant/m', 'mqtt.qos': 1, site: 'A' });
  });

  it('rejects the message when a metadata expression fails', async () => {
    const t = create({ expression: 'payload', meta: { room: 'payload.location.room' } });
    const ctx = createTestTransformContext();
    const out = await t.apply([reading('m', { location: {} })], ctx);
    expect(out).toEqual([]);
    expect(ctx.rejected[0]?.reason).toContain(
      'map: meta "room" expression `payload.location.room` gave no value',
    );
  });

  it('gives the envelope for $, and the payload itself for payload', async () => {
    const input = reading('m', { a: 1 });
    const [whole] = await create({ expression: '$' }).apply([input], createTestTransformContext());
    expect(whole?.payload).toEqual({
      payload: { a: 1 },
      meta: { 'mqtt.topic': 'plant/m' },
      id: 'm',
      time: 1_700_000_000_000,
    });
    const [same] = await create({ expression: 'payload' }).apply([input], createTestTransformContext());
    expect(same?.payload).toBe(input.payload);
  });

  it('evaluates arrays with JSONata semantics', async () => {
    const t = create({ expression: '$sum(payload.readings.value)' });
    const out = await t.apply(
      [reading('m', { readings: [{ value: 1 }, { value: 2.5 }] })],
      createTestTransformContext(),
    );
    expect(out[0]?.payload).toBe(3.5);
  });

  it('rejects an expression that runs too long, and goes on with the batch', async () => {
    const t = create({
      expression: '($f := function($n) { $n > 1e9 ? $n : $f($n + 1) }; $f(0))',
      timeout: '50ms',
    });
    const fast = create({ expression: 'payload.a' });
    const ctx = createTestTransformContext();
    expect(await t.apply([reading('loop', {})], ctx)).toEqual([]);
    expect(ctx.rejected[0]?.reason).toMatch(/failed: .*(timeout|stack)/i);
    expect(await fast.apply([reading('ok', { a: 1 })], ctx)).toHaveLength(1);
  });

  it('refuses an invalid expression when the config is validated', () => {
    const r = mapTransformConfig.safeParse({ expression: '{ "a": ', meta: { x: ')' } });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toEqual(['expression', 'meta.x']);
    expect(mapTransformConfig.safeParse({ expression: 'payload', unknown: 1 }).success).toBe(false);
  });
});
