import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import type { Message } from '../../sdk/index.js';
import { describeError, jsonataExpression } from '../jsonata.js';
import { compileExpression } from './expression.js';

const message = (payload: unknown): Message => ({
  id: 'm-1',
  payload,
  meta: { 'mqtt.topic': 'plant/a/t1', site: { name: 'A' } },
  time: 1_700_000_000_000,
});

const inputs: unknown[] = [
  {
    device: 'd1',
    temperature: 21.5,
    sensor: { t: 3, tags: ['a', 'b'], deep: { x: null } },
    list: [{ v: 1 }, { v: 2 }],
    one: [7],
  },
  { device: 'd2', sensor: null, list: [], temperature: '22' },
  { sensor: 'text' },
  [1, 2, 3],
  [{ device: 'x' }],
  'plain string',
  42,
  null,
  undefined,
  new Uint8Array([1, 2, 3]),
  { constructor: 1, toString: 'own' },
  {},
  // Numbers for arithmetic and $round: halves, negatives, overflow, not-a-number.
  { device: 'd3', temperature: -0.5, half: 2.675, big: 1e308, sensor: { t: 0 } },
  { temperature: 2.5, half: 0.125, big: -1e308 },
  { temperature: -2.5, half: 1.005e-7 },
  { temperature: 0, half: 1e21 },
  { temperature: Number.NaN },
  { temperature: Number.POSITIVE_INFINITY },
  { temperature: true },
  { temperature: null },
  { temperature: [20] },
  // Key order for $merge: integer-like keys first in JS; own undefined values; no prototype.
  { z: 0, 2: 'b', 1: 'a', relayed: false, device: undefined },
  Object.assign(Object.create(null) as object, { device: 'np', temperature: 1 }),
  new Date(0),
  JSON.parse('{"__proto__": {"polluted": true}, "device": "p"}') as unknown,
  { sensor: { t: 'x' }, temperature: '21' },
];

const expressions = [
  'payload',
  'payload.device',
  'payload.sensor.t',
  'payload.sensor.deep.x',
  'payload.sensor.tags',
  'payload.list.v',
  'payload.one',
  'payload.missing.path',
  'payload.constructor',
  'payload.toString',
  // Fields of the envelope other than payload, and names it does not have.
  'meta',
  'meta.`mqtt.topic`',
  'meta.site.name',
  'id',
  'time',
  'device',
  'sensor.t',
  'constructor',
  'toString',
  '$',
  '$meta',
  '$meta.`mqtt.topic`',
  '$meta.site.name',
  '$id',
  '$time',
  '$.payload.device',
  '{"d": payload.device, "t": payload.temperature, "const": 1, "s": "x", "b": true, "n": null}',
  '{"nested": {"t": payload.sensor.t, "id": id}, "topic": meta.`mqtt.topic`, "at": $time}',
  '{"gone": temperature, "also": payload.nothing}',
  '{"2": payload.device, "1": 1, "b": 2, "a": payload.temperature, "__proto__": payload.device}',
  '{"all": $}',
  '{"p": payload}',
  '{}',
  '42',
  '"text"',
  'null',
  // $merge: shallow, later keys win, undefined items skipped, anything else is JSONata's error.
  '$merge([payload, {"relayed": true}])',
  '$merge([payload, {"temperatureF": $round(payload.temperature * 9 / 5 + 32, 1), "site": "demo"}])',
  '$merge([payload, {"device": "over", "new": 1}])',
  '$merge([{"a": 1, "device": 2}, payload, {"a": 3}])',
  '$merge([payload.sensor, {"t": 0}])',
  '$merge([payload, payload.sensor, payload.sensor.deep])',
  '$merge([payload.missing, {"x": 1}])',
  '$merge([payload.missing])',
  '$merge([])',
  '$merge(payload)',
  '$merge(payload.sensor)',
  '$merge(payload.missing)',
  '$merge({"a": payload.device})',
  '$merge([payload, meta, {"id": id}])',
  '$merge([$, {"extra": 1}])',
  '$merge([payload, {"gone": payload.nothing}])',
  '$merge([payload, 1])',
  '$merge([payload, null])',
  '$merge([payload, "s"])',
  '$merge([payload, payload.list])',
  '$merge([payload, {"f": payload.temperature * 2}])',
  // Arithmetic and $round on numbers; anything else is JSONata's error.
  'payload.temperature * 9 / 5 + 32',
  'payload.temperature - 1',
  'payload.temperature % 7',
  '-payload.temperature',
  '-payload.missing',
  'payload.sensor.t / 0',
  'payload.temperature + payload.missing',
  'payload.missing + 1',
  'payload.missing + payload.device',
  'payload.big * 10',
  '1 + 2 * 3',
  '$round(payload.temperature)',
  '$round(payload.temperature, 1)',
  '$round(payload.temperature * 9 / 5 + 32, 1)',
  '$round(payload.half)',
  '$round(payload.half, 2)',
  '$round(payload.half, 8)',
  '$round(payload.temperature, -1)',
  '$round(payload.big, 1)',
  '$round(payload.missing, 1)',
  '$round(payload.device)',
  '{"f": payload.temperature * 9 / 5 + 32, "r": $round(payload.half, 2), "d": payload.device}',
];

describe('JSONata fast path', () => {
  it('takes the fast path for paths, literals, objects, $merge, arithmetic and $round only', () => {
    const fast = (s: string): boolean => compileExpression(s, { timeoutMs: 1000 }).fast;
    for (const s of expressions) expect(fast(s), s).toBe(true);
    for (const s of [
      'a[0]',
      'payload.a[0]',
      'a.b[v > 1]',
      '$string(a)',
      '$$',
      '$$.payload',
      '$merge([payload, [1]])',
      '$merge([payload, {"at": $fromMillis(time)}])',
      '$merge(payload.readings.{ name: value })',
      '$merge([payload], 1)',
      '$round(payload.t, payload.n)',
      '$round(payload.t, 1.5)',
      '$round(payload.t, 1, 2)',
      '$floor(payload.t)',
      'payload.a & "x"',
      'payload.a = 1',
      'payload.a > 1',
      'a[]',
      '{"a": 1, "a": 2}',
      '{a: 1}',
      '$now()',
      'a.*',
      '**.x',
      'a.%',
    ]) {
      expect(fast(s), s).toBe(false);
    }
  });

  it('answers plain data synchronously and hands arrays to JSONata', () => {
    const c = compileExpression('{"t": payload.sensor.t, "topic": meta.`mqtt.topic`}', { timeoutMs: 1000 });
    expect(c.evaluate(message(inputs[0]))).toEqual({ t: 3, topic: 'plant/a/t1' });
    expect(
      compileExpression('payload.list.v', { timeoutMs: 1000 }).evaluate(message(inputs[0])),
    ).toBeInstanceOf(Promise);
  });

  it("merges synchronously, in JSONata's key order, and hands other data to JSONata", async () => {
    const c = compileExpression('$merge([payload, {"relayed": true, "a": 0}])', { timeoutMs: 1000 });
    const merged = c.evaluate(message({ a: 1, b: 2, relayed: false })) as Record<string, unknown>;
    expect(Object.keys(merged)).toEqual(['a', 'b', 'relayed']);
    expect(merged).toEqual({ a: 0, b: 2, relayed: true });
    expect(Object.getPrototypeOf(merged)).toBeNull();
    const r = compileExpression('$round(payload.t * 9 / 5 + 32, 1)', { timeoutMs: 1000 });
    expect(r.evaluate(message({ t: 21.5 }))).toBe(70.7);
    const warm = r.evaluate(message({ t: 'warm' }));
    expect(warm).toBeInstanceOf(Promise);
    await expect(warm).rejects.toMatchObject({ code: 'T2001' });
    const text = c.evaluate(message('text'));
    expect(text).toBeInstanceOf(Promise);
    await expect(text).rejects.toMatchObject({ code: 'T0412' });
  });

  // The fast path must never disagree with JSONata on the envelope: compare every expression on
  // every input. The reference envelope is written out here, independently of envelopeOf.
  it.each(expressions)('agrees with JSONata for %s', async (source) => {
    const compiled = compileExpression(source, { timeoutMs: 1000 });
    const reference = jsonata(source);
    for (const input of inputs) {
      const m = message(input);
      let expected: unknown;
      let expectedError: string | undefined;
      try {
        expected = await reference.evaluate(
          { payload: m.payload, meta: m.meta, id: m.id, time: m.time },
          { meta: m.meta, id: m.id, time: m.time },
        );
      } catch (error) {
        expectedError = describeError(error);
      }
      if (expectedError !== undefined) {
        // Data JSONata rejects goes to JSONata, so the error (and its message) is JSONata's own.
        const actualError = await Promise.resolve()
          .then(() => compiled.evaluate(m))
          .then(
            () => undefined,
            (error: unknown) => describeError(error),
          );
        expect(actualError, `${source} on ${describeInput(input)}`).toBe(expectedError);
        continue;
      }
      const actual = await compiled.evaluate(m);
      const what = `${source} on ${JSON.stringify(input)}`;
      // Strict: own undefined values count, -0 is not 0, and prototypes must match.
      expect(actual, what).toStrictEqual(expected);
      if (actual !== null && typeof actual === 'object') {
        expect(Object.getPrototypeOf(actual)).toBe(Object.getPrototypeOf(expected));
        expect(Object.keys(actual), what).toEqual(Object.keys(expected as object));
      }
    }
  });
});

describe('JSONata helpers', () => {
  it('reports syntax errors at validation time, with the position', () => {
    const schema = jsonataExpression('test');
    const r = schema.safeParse('payload.(');
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toMatch(/^invalid JSONata: .+ \(JSONata S\d+ at character \d+\)$/);
    expect(schema.safeParse('a.b').success).toBe(true);
    expect(schema.safeParse('').success).toBe(false);
  });

  it('stops a runaway expression at the timeout', async () => {
    const compiled = compileExpression('($f := function($n) { $f($n + 1) }; $f(0))', { timeoutMs: 50 });
    // Stopped is the property (a runaway never settles); how fast is the benchmarks' business.
    const error = await Promise.resolve()
      .then(() => compiled.evaluate(message({})))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(describeError(error)).toMatch(/timeout|stack/i);
  });
});

function describeInput(input: unknown): string {
  try {
    return JSON.stringify(input) ?? 'undefined';
  } catch {
    return typeof input;
  }
}
