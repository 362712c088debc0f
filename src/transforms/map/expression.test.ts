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
  '{"all": $}',
  '{"p": payload}',
  '{}',
  '42',
  '"text"',
  'null',
];

describe('JSONata fast path', () => {
  it('takes the fast path for paths, literals and objects of them only', () => {
    const fast = (s: string): boolean => compileExpression(s, { timeoutMs: 1000 }).fast;
    for (const s of expressions) expect(fast(s), s).toBe(true);
    for (const s of [
      'a[0]',
      'payload.a[0]',
      'a.b[v > 1]',
      'payload.temperature * 2',
      '$string(a)',
      '$$',
      '$$.payload',
      '$merge([payload, {"a": 1}])',
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
        await expect(Promise.resolve().then(() => compiled.evaluate(m))).rejects.toBeDefined();
        continue;
      }
      const actual = await compiled.evaluate(m);
      expect(actual, `${source} on ${JSON.stringify(input)}`).toEqual(expected);
      if (actual !== null && typeof actual === 'object')
        expect(Object.getPrototypeOf(actual)).toBe(Object.getPrototypeOf(expected));
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
    const started = Date.now();
    const error = await Promise.resolve()
      .then(() => compiled.evaluate(message({})))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(describeError(error)).toMatch(/timeout|stack/i);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
