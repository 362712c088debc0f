import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Message } from '../../sdk/index.js';
import {
  createTestTransformContext,
  describeTransformConformance,
} from '../../../test/conformance/transform.js';
import { redactTransform, redactTransformConfig } from './index.js';
import {
  testComponentContext,
  testMessage,
  type GoldenCase,
  checkGolden,
} from '../../../test/conformance/transform-cases.js';

const componentCtx = testComponentContext();
const create = (config: Record<string, unknown>) =>
  redactTransform.create(redactTransformConfig.parse(config), componentCtx);

const message = testMessage;

type Case = GoldenCase;

const cases: Case[] = [
  {
    name: 'drops a field',
    config: { fields: ['payload.operator'] },
    payload: { operator: 'Alice', t: 1 },
    expected: { payload: { t: 1 } },
  },
  {
    name: 'drops a field of every item',
    config: { fields: ['payload.devices[*].serial'] },
    payload: { devices: [{ serial: 'S1', t: 1 }, { t: 2 }, { serial: null }] },
    expected: { payload: { devices: [{ t: 1 }, { t: 2 }, {}] } },
  },
  {
    name: 'drops array items, the others move up',
    config: { fields: ['payload.readings[1]', 'payload.readings[3]'] },
    payload: { readings: [10, 11, 12, 13] },
    // Paths apply one after the other: [1] removes 11, then [3] does not exist any more.
    expected: { payload: { readings: [10, 12, 13] } },
  },
  {
    name: 'blanks values of every key, whatever their type',
    config: { fields: ['payload.*.phone'], mode: 'blank', blank: '' },
    payload: { a: { phone: '+33 1 23 45 67 89' }, b: { phone: { mobile: 1 } }, c: 3 },
    expected: { payload: { a: { phone: '' }, b: { phone: '' }, c: 3 } },
  },
  {
    name: 'blanks with null by default',
    config: { fields: ['payload["e-mail"]'], mode: 'blank' },
    payload: { 'e-mail': 'a@b.c' },
    expected: { payload: { 'e-mail': null } },
  },
  {
    name: 'drops and blanks metadata keys',
    config: { meta: ['mqtt.userProperties', 'absent'] },
    payload: 1,
    meta: { 'mqtt.userProperties': { user: 'x' }, 'mqtt.topic': 't' },
    expected: { payload: 1, meta: { 'mqtt.topic': 't' } },
  },
  {
    name: 'a missing field is already redacted',
    config: { fields: ['payload.operator.name', 'payload.absent'] },
    payload: { operator: null, t: 1 },
    expected: { payload: { operator: null, t: 1 } },
  },
  {
    name: 'a value of another shape on the way is rejected: the name may be in it',
    config: { fields: ['payload.operator.name'] },
    payload: { operator: 'Alice Smith', t: 1 },
    expected: {
      rejected:
        'redact: payload.operator is a string, not an object or array, so payload.operator.name can not be looked up in it',
    },
  },
  {
    name: 'a payload it can not look into is rejected, not passed on unredacted',
    config: { fields: ['payload.operator'] },
    payload: '{"operator":"Alice"}',
    expected: {
      rejected:
        "redact: the payload is a string, not a JSON object or array, so payload.operator can not be redacted: decode it first (e.g. the MQTT source's payload: json)",
    },
  },
];

describe('redact', () => {
  it.each(cases)('golden: $name', (c) => checkGolden(create, c));

  it('leaves no value at the path, and everything else as it was', () => {
    const t = create({ fields: ['payload.*.secret'] });
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.oneof(fc.object(), fc.jsonValue())), (payload) => {
        const [out] = t.apply([message('m', payload)], createTestTransformContext()) as Message[];
        const result = out?.payload as Record<string, unknown>;
        expect(Object.keys(result)).toEqual(Object.keys(payload));
        for (const [k, v] of Object.entries(payload)) {
          const after = result[k];
          if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
            expect(Object.hasOwn(after as object, 'secret')).toBe(false);
            const { secret: _gone, ...rest } = v as Record<string, unknown>;
            expect(after).toEqual(rest);
          } else if (Array.isArray(v)) expect(after).toEqual(v);
          else expect(after).toBe(v);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('keeps an own "__proto__" key as data, never as a prototype', async () => {
    const payload = JSON.parse('{"__proto__": {"polluted": true}, "operator": "A", "t": 1}') as object;
    const ctx = createTestTransformContext();
    const [out] = await create({ fields: ['payload.operator'] }).apply([message('m', payload)], ctx);
    const result = out?.payload as Record<string, unknown>;
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(Object.keys(result)).toEqual(['__proto__', 't']);
    expect(JSON.stringify(result)).toBe('{"__proto__":{"polluted":true},"t":1}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses configs that redact nothing or the whole payload', () => {
    const issues = (config: Record<string, unknown>) =>
      redactTransformConfig.safeParse(config).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({})).toEqual(['fields: nothing to redact: list fields or meta']);
    expect(issues({ fields: ['payload'] })).toEqual([
      'fields.0: the whole payload can not be redacted: name fields inside it (or drop the message with filter)',
    ]);
    expect(issues({ fields: ['payload.a'], mode: 'erase' })?.[0]).toMatch(/^mode: /);
    expect(issues({ fields: ['payload.a'], blank: { x: 1 } })?.[0]).toMatch(/^blank: /);
    for (const example of redactTransform.examples ?? [])
      expect(redactTransformConfig.safeParse(example).success).toBe(true);
  });
});

describeTransformConformance('redact', {
  neverDrops: "it removes fields, never whole messages (dropping messages is filter's job)",
  create: () =>
    create({ fields: ['payload.operator', 'payload.list[*].serial'], meta: ['mqtt.userProperties'] }),
  good: [
    message('g1', { operator: 'A', t: 1 }, { 'mqtt.userProperties': { a: '1' } }),
    message('g2', [1, 2]),
    message('g3', { list: [{ serial: 1 }, 'x'] }),
  ],
  bad: [message('b1', 'text'), message('b2', new Uint8Array([1, 2])), message('b3', 42)],
});
