import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Message, type Transform } from '../../sdk/index.js';
import {
  createTestTransformContext,
  describeTransformConformance,
} from '../../../test/conformance/transform.js';
import { verifyChecksumTransform, verifyChecksumTransformConfig } from '../verify-checksum/index.js';
import { canonicalJson } from '../shared/canonical.js';
import { checksumTransform, checksumTransformConfig } from './index.js';
import {
  testComponentContext,
  testMessage,
  type GoldenCase,
  checkGolden,
} from '../../../test/conformance/transform-cases.js';

// Expected values computed outside Node: `printf %s '<canonical JSON>' | sha256sum`,
// `openssl dgst -sha256 -hmac KEY`, and a bitwise CRC-32C in Python (check value e3069283).
const KEY_TEXT = 'passerelle-test-key-0123456789ab';
const KEY = Buffer.from(KEY_TEXT).toString('base64');

const componentCtx = testComponentContext();
const create = (config: Record<string, unknown>) =>
  checksumTransform.create(checksumTransformConfig.parse(config), componentCtx);
const verifier = (config: Record<string, unknown>) =>
  verifyChecksumTransform.create(verifyChecksumTransformConfig.parse(config), componentCtx);

const message = testMessage;

type Case = GoldenCase;

const reading = { t: 21.5, device: 'd1', n: 1e21 };

const cases: Case[] = [
  {
    name: 'sha256 of the RFC 8785 form (sorted keys, ES number form) into the default field',
    config: {},
    payload: reading,
    expected: {
      payload: { ...reading, checksum: '534a836f36b1b846fe00a1e79bef1a725dae93c3853bd5e3bf7db47c6d3939ff' },
    },
  },
  {
    name: 'an old value of the field is not part of the canonical form, and is replaced',
    config: { field: 'checksum' },
    payload: { checksum: 'stale', ...reading },
    expected: {
      payload: { ...reading, checksum: '534a836f36b1b846fe00a1e79bef1a725dae93c3853bd5e3bf7db47c6d3939ff' },
    },
  },
  {
    name: 'hmac-sha256 into a field',
    config: { algorithm: 'hmac-sha256', key: KEY, field: 'mac' },
    payload: reading,
    expected: {
      payload: { ...reading, mac: '1b44ac3ab10bd7f0474f5ef3af1a8348f95ff2a1ebdcab2b6f8e001aafc27f85' },
    },
  },
  {
    name: 'crc32c into a field',
    config: { algorithm: 'crc32c', field: 'crc' },
    payload: reading,
    expected: { payload: { ...reading, crc: 'eb237987' } },
  },
  {
    name: 'crc32c of a text payload (its UTF-8 bytes) into a user property',
    config: { algorithm: 'crc32c', userProperty: 'crc' },
    payload: '123456789',
    meta: { 'mqtt.userProperties': { origin: 'edge' } },
    expected: { payload: '123456789', meta: { 'mqtt.userProperties': { origin: 'edge', crc: 'e3069283' } } },
  },
  {
    name: 'hmac-sha256 of raw bytes into a user property',
    config: { algorithm: 'hmac-sha256', key: KEY, userProperty: 'mac' },
    payload: new Uint8Array([0, 1, 2, 255]),
    expected: {
      payload: new Uint8Array([0, 1, 2, 255]),
      meta: {
        'mqtt.userProperties': { mac: '9c09777ab086cecb6c5fecdf0f3c98c6b8712253a743b2c0c9f9d644e7d89ba3' },
      },
    },
  },
  {
    name: 'sha256 of an array payload into a user property',
    config: { userProperty: 'sum' },
    payload: [1, 'x', { b: false, a: null }],
    expected: {
      payload: [1, 'x', { b: false, a: null }],
      meta: {
        'mqtt.userProperties': { sum: '1efd6844fe1ff6b70070dce8725d1f543356fe1cac19e9bd83ee081d2d0cbfe0' },
      },
    },
  },
  {
    name: 'non-ASCII keys sort by UTF-16 code units and stay unescaped',
    config: {},
    payload: { é: 'ü', a: '€' },
    expected: {
      payload: {
        é: 'ü',
        a: '€',
        checksum: 'cd628efd311041bef6b3aa464a2f91d83556a23b59470de3e6b25c9c1643e683',
      },
    },
  },
  {
    name: 'NaN has no canonical form',
    config: {},
    payload: { t: Number.NaN },
    expected: { rejected: 'checksum: the payload has no canonical JSON form (RFC 8785): NaN is not allowed' },
  },
  {
    name: 'a field needs an object payload',
    config: { field: 'checksum' },
    payload: 'text',
    expected: {
      rejected:
        'checksum: the payload is a string: a checksum field needs a JSON object payload (use userProperty for other payloads)',
    },
  },
];

describe('checksum', () => {
  it.each(cases)('golden: $name', (c) => checkGolden(create, c));

  const settings = fc.oneof(
    fc.constant({ algorithm: 'sha256' }),
    fc.constant({ algorithm: 'crc32c' }),
    fc.constant({ algorithm: 'hmac-sha256', key: KEY }),
  );
  const where = fc.constantFrom({}, { userProperty: 'checksum' });
  const run = (t: Transform, m: Message) => {
    const ctx = createTestTransformContext();
    const out = t.apply([m], ctx) as Message[];
    return { out: out[0], rejected: ctx.rejected };
  };

  it('add then verify always passes, after the payload crossed the wire as JSON', () => {
    fc.assert(
      fc.property(
        settings,
        where,
        fc.dictionary(fc.string(), fc.jsonValue()),
        (algorithm, target, payload) => {
          const config = { ...algorithm, ...target };
          const added = run(create(config), message('m', payload)).out as Message;
          // What an MQTT hop does to a JSON payload: serialise, then parse on the other side.
          const received = { ...added, payload: JSON.parse(JSON.stringify(added.payload)) as unknown };
          const verified = run(verifier({ ...config, strip: true }), received);
          expect(verified.rejected).toEqual([]);
          expect(verified.out?.payload).toEqual(JSON.parse(JSON.stringify(payload)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('any single changed byte of a bytes payload fails', () => {
    fc.assert(
      fc.property(
        settings,
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (algorithm, bytes, at, delta) => {
          const config = { ...algorithm, userProperty: 'c' };
          const added = run(create(config), message('m', bytes)).out as Message;
          const changed = Uint8Array.from(bytes);
          const i = at % changed.length;
          changed[i] = ((changed[i] as number) + delta) % 256;
          const verified = run(verifier(config), { ...added, payload: changed });
          expect(verified.out).toBeUndefined();
          expect(verified.rejected[0]?.reason).toMatch(/^verify-checksum: .* mismatch/);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('any single changed byte of a JSON payload on the wire fails, unless the JSON means the same', () => {
    fc.assert(
      fc.property(
        settings,
        fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }),
        fc.nat(),
        fc.integer({ min: 1, max: 127 }),
        (algorithm, payload, at, delta) => {
          const config = { ...algorithm };
          const added = run(create(config), message('m', payload)).out as Message;
          const wire = Buffer.from(JSON.stringify(added.payload));
          const i = at % wire.length;
          wire[i] = ((wire[i] as number) + delta) % 128; // stays ASCII, so the text stays UTF-8
          let parsed: unknown;
          let json = true;
          try {
            parsed = JSON.parse(wire.toString('utf8'));
          } catch {
            json = false;
          }
          // Not JSON any more: the receiving source dead-letters it. A counted discard (fc.pre), so
          // a run that is mostly discards fails instead of passing on a handful of cases.
          fc.pre(json);
          const verified = run(verifier(config), message('m', parsed));
          // The same data in another spelling (1E+21 for 1e+21, \u0041 for A) is not a change.
          const original = added.payload as Record<string, unknown>;
          const same =
            JSON.stringify(parsed) === JSON.stringify(original) ||
            (isObject(parsed) && deepEqualJson(parsed, original));
          expect(verified.rejected.length === 0).toBe(same);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('writes the same canonical form as the canonicalize package for a stream of objects of few shapes', () => {
    // canonicalJson remembers the key order of the shapes it last saw: objects that share, reorder,
    // add or lose keys between calls, at the top level and nested, must each get their own form.
    const key = fc.constantFrom('a', 'b', 'B', 'é', '10', '2', 'checksum', '__proto__x');
    const leaf = fc.oneof(
      fc.string({ maxLength: 4 }),
      fc.double(),
      fc.constant(undefined),
      fc.constant(null),
    );
    const object = (depth: number): fc.Arbitrary<Record<string, unknown>> =>
      fc.dictionary(
        key,
        depth > 0 ? fc.oneof(leaf, object(depth - 1), fc.array(object(depth - 1), { maxLength: 3 })) : leaf,
        { maxKeys: 5 },
      );
    fc.assert(
      fc.property(fc.array(fc.tuple(object(2), fc.option(key)), { minLength: 2, maxLength: 8 }), (stream) => {
        for (const [value, without] of stream) {
          let expected: string | undefined;
          try {
            expected = canonicalize(without === null ? value : { ...value, [without]: undefined });
          } catch (error) {
            expect(() => canonicalJson(value, without ?? undefined)).toThrow((error as Error).message);
            continue;
          }
          expect(canonicalJson(value, without ?? undefined)).toBe(expected);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('writes the same canonical form as the canonicalize package, whatever the JSON', () => {
    const text = fc.string({ unit: 'binary', maxLength: 12 });
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        text,
        fc.double(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.constant(undefined),
        fc.array(tie('value'), { maxLength: 5 }),
        fc.dictionary(text, tie('value'), { maxKeys: 6 }),
        fc.date({ noInvalidDate: true }),
        fc.bigInt(),
      ),
    })).value;
    fc.assert(
      fc.property(json, fc.option(text), (value, without) => {
        const reference = () =>
          canonicalize(
            without !== null &&
              isObject(value) &&
              [Object.prototype, null].includes(Object.getPrototypeOf(value))
              ? { ...value, [without]: undefined }
              : value,
          );
        let expected: string | undefined;
        try {
          expected = reference();
        } catch (error) {
          expect(() => canonicalJson(value, without ?? undefined)).toThrow((error as Error).message);
          return;
        }
        expect(canonicalJson(value, without ?? undefined)).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses configs with clear reasons', () => {
    const issues = (config: Record<string, unknown>) =>
      checksumTransformConfig.safeParse(config).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ algorithm: 'hmac-sha256' })).toEqual(['key: hmac-sha256 needs a key']);
    expect(issues({ algorithm: 'hmac-sha256', key: Buffer.alloc(16).toString('base64') })).toEqual([
      'key: the key is 16 bytes long (as base64); at least 32 are needed: generate one with `openssl rand -base64 32`',
    ]);
    expect(issues({ algorithm: 'sha256', key: KEY })).toEqual([
      'key: sha256 uses no key: set algorithm: hmac-sha256 to use one',
    ]);
    expect(issues({ field: 'a', userProperty: 'b' })).toEqual([
      'userProperty: give either field or userProperty, not both',
    ]);
    expect(issues({ algorithm: 'md5' })?.[0]).toMatch(/^algorithm: /);
    expect(issues({ algoritm: 'sha256' })?.[0]).toMatch(/algoritm/);
    expect(issues({ field: '__proto__' })).toEqual(['field: "__proto__" can not be used as a key name']);
    for (const example of checksumTransform.examples ?? [])
      expect(
        checksumTransformConfig.safeParse({ ...example, ...(example.key ? { key: KEY } : {}) }).success,
      ).toBe(true);
  });
});

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function deepEqualJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((v, i) => deepEqualJson(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && deepEqualJson(a[k], b[k]));
  }
  return false;
}

describeTransformConformance('checksum', {
  neverDrops: 'it stamps every message it can hash and rejects the rest',
  create: () => create({ algorithm: 'sha256' }),
  good: [message('g1', reading), message('g2', { nested: { list: [1, 2, { x: 'y' }] } }), message('g3', {})],
  bad: [message('b1', { t: Number.POSITIVE_INFINITY }), message('b2', [1, 2]), message('b3', 7)],
});
