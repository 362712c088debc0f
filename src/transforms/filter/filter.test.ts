import { describe, expect, it } from 'vitest';
import { createMessage, type Logger, type Message } from '../../sdk/index.js';
import {
  createTestTransformContext,
  describeTransformConformance,
} from '../../../test/conformance/transform.js';
import { toBoolean } from './expression.js';
import { filterTransform, filterTransformConfig } from './index.js';
import { testComponentContext } from '../../../test/conformance/transform-cases.js';

const componentCtx = testComponentContext();
const create = (config: Record<string, unknown>) =>
  filterTransform.create(filterTransformConfig.parse(config), componentCtx);

const reading = (id: string, payload: unknown, topic = `plant/a/${id}`): Message =>
  createMessage({ id, payload, meta: { 'mqtt.topic': topic }, time: 1_700_000_000_000 });

describeTransformConformance('filter', {
  create: () => create({ expression: 'payload.temperature > 25' }),
  good: [reading('hot', { temperature: 30 }), reading('hotter', { temperature: 99.5, extra: { a: [1] } })],
  bad: [reading('text', { temperature: 'warm' }), reading('bool', { temperature: true })],
  dropped: [
    reading('cold', { temperature: 3 }),
    reading('none', { humidity: 40 }),
    reading('bytes', new Uint8Array([1])),
    reading('str', 'x'),
  ],
});

describe('filter', () => {
  it('keeps the messages for which the expression is truthy, unchanged', async () => {
    const t = create({ expression: '$contains(meta.`mqtt.topic`, /^plant\\/a\\//) and id != "skip"' });
    const ctx = createTestTransformContext();
    const batch = [reading('1', {}), reading('2', {}, 'plant/b/2'), reading('skip', {}), reading('4', {})];
    const out = await t.apply(batch, ctx);
    expect(out).toEqual([batch[0], batch[3]]);
    expect(out[0]).toBe(batch[0]);
    expect(ctx.rejected).toEqual([]);
  });

  it('rejects by default a message the expression fails on, with the reason, and the others go on', async () => {
    const t = create({ expression: 'payload.temperature > 25' });
    const ctx = createTestTransformContext();
    const out = await t.apply(
      [
        reading('a', { temperature: 30 }),
        reading('b', { temperature: 'hot' }),
        reading('c', { temperature: 26 }),
      ],
      ctx,
    );
    expect(out.map((m) => m.id)).toEqual(['a', 'c']);
    expect(ctx.rejected.map((r) => [r.message.id, r.reason])).toEqual([
      [
        'b',
        'filter: expression `payload.temperature > 25` failed: The values "hot" and 25 either side of operator ">" must be of the same data type (JSONata T2009 at character 21)',
      ],
    ]);
  });

  it('drops or keeps a failing message with onError, logging once at warn level', async () => {
    const warnings: unknown[] = [];
    const logger: Logger = { ...componentCtx.logger, warn: (o) => void warnings.push(o) };
    const batch = [
      reading('a', { temperature: 30 }),
      reading('b', { temperature: 'hot' }),
      reading('c', { temperature: 'cold' }),
    ];
    const drop = createTestTransformContext({ logger });
    expect(
      (await create({ expression: 'payload.temperature > 25', onError: 'drop' }).apply(batch, drop)).map(
        (m) => m.id,
      ),
    ).toEqual(['a']);
    expect(drop.rejected).toEqual([]);
    expect(warnings).toHaveLength(1);
    const keep = createTestTransformContext();
    expect(
      (await create({ expression: 'payload.temperature > 25', onError: 'keep' }).apply(batch, keep)).map(
        (m) => m.id,
      ),
    ).toEqual(['a', 'b', 'c']);
    expect(keep.rejected).toEqual([]);
  });

  it('runs the README examples', async () => {
    const keep = async (expression: string, payload: unknown, time = Date.now()): Promise<boolean> =>
      (
        await create({ expression }).apply(
          [createMessage({ id: 'r', payload, time })],
          createTestTransformContext(),
        )
      ).length === 1;
    expect(await keep('payload.temperature != null', { temperature: 0 })).toBe(true);
    expect(await keep('payload.temperature != null', { humidity: 40 })).toBe(false);
    expect(await keep('temperature != null', { temperature: 0 })).toBe(false);
    const top = 'payload.temperature != null and meta.`mqtt.topic` != "plant/test"';
    const topic = async (payload: unknown, t: string) =>
      (
        await create({ expression: top }).apply(
          [createMessage({ id: 't', payload, meta: { 'mqtt.topic': t } })],
          createTestTransformContext(),
        )
      ).length === 1;
    expect(await topic({ temperature: 20 }, 'plant/a')).toBe(true);
    expect(await topic({ temperature: 20 }, 'plant/test')).toBe(false);
    expect(await topic({}, 'plant/a')).toBe(false);
    expect(await keep('time > $millis() - 300000', {})).toBe(true);
    expect(await keep('time > $millis() - 300000', {}, Date.now() - 600_000)).toBe(false);
    expect(await keep('$time > $millis() - 300000', {})).toBe(true);
    expect(await keep('payload.device in ["sim-001", "sim-003"]', { device: 'sim-003' })).toBe(true);
    expect(await keep('payload.device in ["sim-001", "sim-003"]', { device: 'sim-002' })).toBe(false);
    expect(await keep('payload.alarm', { alarm: true })).toBe(true);
    expect(await keep('payload.alarm', { level: 1 })).toBe(false);
  });

  it('evaluates on the envelope { payload, meta, id, time }, with $meta, $id and $time bound too', async () => {
    const ctx = createTestTransformContext();
    const batch = [reading('1', { t: 1 }), reading('2', { t: 2 }, 'plant/b/2')];
    const ids = async (expression: string) =>
      (await create({ expression }).apply(batch, ctx)).map((m) => m.id);
    expect(await ids('meta.`mqtt.topic` = "plant/b/2"')).toEqual(['2']);
    expect(await ids('$meta.`mqtt.topic` = "plant/b/2"')).toEqual(['2']);
    expect(await ids('id = "1" and $id = "1"')).toEqual(['1']);
    expect(await ids('time = 1700000000000 and $time = time')).toEqual(['1', '2']);
    expect(await ids('$.payload.t = 2')).toEqual(['2']);
    expect(await ids('t = 2')).toEqual([]);
    expect(ctx.rejected).toEqual([]);
  });

  it('uses JSONata truthiness', () => {
    const cases: [unknown, boolean][] = [
      [undefined, false],
      [null, false],
      [0, false],
      [1, true],
      ['', false],
      ['no', true],
      [false, false],
      [true, true],
      [[], false],
      [[0], false],
      [[0, 'x'], true],
      [{}, false],
      [{ a: 0 }, true],
      [() => 1, false],
      [Number.NaN, false],
    ];
    for (const [value, expected] of cases) expect(toBoolean(value), String(value)).toBe(expected);
  });

  it('refuses an invalid expression or option when the config is validated', () => {
    expect(filterTransformConfig.safeParse({ expression: 'payload.a >' }).error?.issues[0]?.message).toMatch(
      /^invalid JSONata: /,
    );
    expect(filterTransformConfig.safeParse({ expression: 'payload.a', onError: 'ignore' }).success).toBe(
      false,
    );
    for (const example of filterTransform.examples ?? [])
      expect(filterTransformConfig.safeParse(example).success).toBe(true);
  });
});
