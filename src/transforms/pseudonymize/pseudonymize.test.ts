import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Message } from '../../sdk/index.js';
import {
  createTestTransformContext,
  describeTransformConformance,
} from '../../../test/conformance/transform.js';
import { parseFieldPath } from '../shared/field-paths.js';
import { pseudonymizeTransform, pseudonymizeTransformConfig } from './index.js';
import { base32 } from './pseudonymize.js';
import {
  testComponentContext,
  testMessage,
  type GoldenCase,
  checkGolden,
} from '../../../test/conformance/transform-cases.js';

// 32 ASCII bytes; the expected pseudonyms below were computed with
// `printf %s VALUE | openssl dgst -sha256 -hmac KEY -binary | head -c N | basenc --base64url` (or xxd, base32).
const KEY_TEXT = 'passerelle-test-key-0123456789ab';
const KEY = Buffer.from(KEY_TEXT).toString('base64');
const OTHER_KEY = Buffer.alloc(32, 7).toString('base64');

const componentCtx = testComponentContext();
const create = (config: Record<string, unknown>) =>
  pseudonymizeTransform.create(pseudonymizeTransformConfig.parse(config), componentCtx);

const message = testMessage;

type Case = GoldenCase;

const base = { key: KEY, keyId: 'k1' };

const cases: Case[] = [
  {
    name: 'a top-level field',
    config: { ...base, fields: ['payload.device'] },
    payload: { device: 'dev-1', t: 21.5 },
    expected: { payload: { device: 'k1:3rbP3aNRn2zrd-Ksv6MIUw', t: 21.5 } },
  },
  {
    name: 'every item of an array, a number as its text',
    config: { ...base, fields: ['payload.devices[*].id'] },
    payload: { devices: [{ id: 'dev-1' }, { id: 42 }, { other: 1 }] },
    expected: {
      payload: {
        devices: [{ id: 'k1:3rbP3aNRn2zrd-Ksv6MIUw' }, { id: 'k1:wVoAZGVpmB-pOUVr8I7c1g' }, { other: 1 }],
      },
    },
  },
  {
    name: 'every value of an object',
    config: { ...base, fields: ['payload.*.owner'] },
    payload: { a: { owner: 'alice', v: 1 }, b: { owner: 'bob' } },
    expected: {
      payload: { a: { owner: 'k1:E0cZqvsIah9LNBTHBKYuow', v: 1 }, b: { owner: 'k1:8xDKZbBNjVDFRs56EjE8nA' } },
    },
  },
  {
    name: 'hex, 80 bits, a key written in hex',
    config: {
      key: Buffer.from(KEY_TEXT).toString('hex'),
      keyEncoding: 'hex',
      keyId: 'k2',
      fields: ['payload.device'],
      encoding: 'hex',
      bits: 80,
    },
    payload: { device: 'dev-2' },
    expected: { payload: { device: 'k2:6623e21eec2595289a25' } },
  },
  {
    name: 'base32, 80 bits, a utf8 key',
    config: {
      key: KEY_TEXT,
      keyEncoding: 'utf8',
      keyId: 'k3',
      fields: ['payload.device'],
      encoding: 'base32',
      bits: 80,
    },
    payload: { device: 'site-7' },
    expected: { payload: { device: 'k3:6gu4g66qwm7xds4r' } },
  },
  {
    name: 'a topic level and a metadata key: the same id gives the same pseudonym everywhere',
    config: { ...base, fields: ['payload.devEui'], topicLevels: [2], meta: ['chirpstack.devEui'] },
    payload: { devEui: '0011223344556677' },
    meta: { 'mqtt.topic': 'app/1/0011223344556677/up', 'chirpstack.devEui': '0011223344556677' },
    expected: {
      payload: { devEui: 'k1:diWZXpgeWthTz_IL-n2XKA' },
      meta: {
        'mqtt.topic': 'app/1/k1:diWZXpgeWthTz_IL-n2XKA/up',
        'chirpstack.devEui': 'k1:diWZXpgeWthTz_IL-n2XKA',
      },
    },
  },
  {
    name: 'a missing field is left alone by default',
    config: { ...base, fields: ['payload.device', 'payload.owner.name'] },
    payload: { device: 'dev-1', owner: null },
    expected: { payload: { device: 'k1:3rbP3aNRn2zrd-Ksv6MIUw', owner: null } },
  },
  {
    name: 'a named key of another shape on the way is rejected, not passed on',
    config: { ...base, fields: ['payload.device.id'] },
    payload: { device: 'dev-2' },
    expected: {
      rejected:
        'pseudonymize: payload.device is a string, not an object or array, so payload.device.id can not be looked up in it',
    },
  },
  {
    name: 'items matched by [*] that are not objects are skipped',
    config: { ...base, fields: ['payload.devices[*].id'] },
    payload: { devices: [{ id: 'dev-1' }, 'dev-2', null] },
    expected: { payload: { devices: [{ id: 'k1:3rbP3aNRn2zrd-Ksv6MIUw' }, 'dev-2', null] } },
  },
  {
    name: 'a missing field rejects with missing: reject',
    config: { ...base, fields: ['payload.device'], missing: 'reject' },
    payload: { t: 1 },
    expected: { rejected: 'pseudonymize: payload.device is missing' },
  },
  {
    name: 'a missing topic level rejects with missing: reject',
    config: { ...base, topicLevels: [3], missing: 'reject' },
    payload: {},
    meta: { 'mqtt.topic': 'a/b/c' },
    expected: { rejected: 'pseudonymize: level 3 of the topic "a/b/c" is missing' },
  },
  {
    name: 'an object where an identifier is expected',
    config: { ...base, fields: ['payload.device'] },
    payload: { device: { id: 'x' } },
    expected: {
      rejected:
        'pseudonymize: payload.device is an object; only strings and finite numbers can be pseudonymized (use redact for other values)',
    },
  },
  {
    name: 'NaN',
    config: { ...base, fields: ['payload.device'] },
    payload: { device: Number.NaN },
    expected: {
      rejected:
        'pseudonymize: payload.device is NaN; only strings and finite numbers can be pseudonymized (use redact for other values)',
    },
  },
  {
    name: 'a payload that is not JSON structure is rejected, not passed with the identifier in it',
    config: { ...base, fields: ['payload.device'] },
    payload: new TextEncoder().encode('{"device":"dev-1"}'),
    expected: {
      rejected:
        "pseudonymize: the payload is bytes, not a JSON object or array, so payload.device can not be pseudonymized: decode it first (e.g. the MQTT source's payload: json)",
    },
  },
  {
    name: 'the whole payload when it is the identifier',
    config: { ...base, fields: ['payload'] },
    payload: 'alice',
    expected: { payload: 'k1:E0cZqvsIah9LNBTHBKYuow' },
  },
];

describe('pseudonymize', () => {
  it.each(cases)('golden: $name', (c) => checkGolden(create, c));

  it('gives the same pseudonym for a key across instances (restarts, replicas), another one for another key', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.string({ maxLength: 200 }), (a, b) => {
        const one = create({ ...base, fields: ['payload.id'] });
        const restarted = create({ ...base, fields: ['payload.id'] });
        const otherKey = create({ key: OTHER_KEY, keyId: 'k1', fields: ['payload.id'] });
        const ctx = createTestTransformContext();
        const run = (t: ReturnType<typeof create>, v: string) =>
          ((t.apply([message('m', { id: v })], ctx) as Message[])[0]?.payload as { id: string }).id;
        expect(run(one, a)).toBe(run(restarted, a));
        expect(run(one, a)).not.toBe(run(otherKey, a));
        expect(run(one, a) === run(one, b)).toBe(a === b);
        expect(ctx.rejected).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('writes the configured length in the configured encoding', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 8, max: 32 }),
        fc.constantFrom('base64url', 'hex', 'base32'),
        fc.string(),
        (bytes, encoding, value) => {
          const t = create({ ...base, keyId: 'key-2', fields: ['payload'], bits: bytes * 8, encoding });
          const out = (t.apply([message('m', value)], createTestTransformContext()) as Message[])[0]
            ?.payload as string;
          const [id, body] = out.split(':') as [string, string];
          expect(id).toBe('key-2');
          const pattern = { base64url: /^[A-Za-z0-9_-]+$/, hex: /^[0-9a-f]+$/, base32: /^[a-z2-7]+$/ }[
            encoding
          ];
          expect(body).toMatch(pattern);
          const length = {
            base64url: Math.ceil((bytes * 8) / 6),
            hex: bytes * 2,
            base32: Math.ceil((bytes * 8) / 5),
          };
          expect(body.length).toBe(length[encoding]);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('encodes base32 as RFC 4648 does (its test vectors, lower case, no padding)', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'my'],
      ['fo', 'mzxq'],
      ['foo', 'mzxw6'],
      ['foob', 'mzxw6yq'],
      ['fooba', 'mzxw6ytb'],
      ['foobar', 'mzxw6ytboi'],
    ];
    for (const [input, output] of vectors) expect(base32(Buffer.from(input))).toBe(output);
  });

  it('pseudonymizes huge strings and leaves every other message of the batch alone', async () => {
    const t = create({ ...base, fields: ['payload.device'] });
    const ctx = createTestTransformContext();
    const huge = 'x'.repeat(5_000_000);
    const out = await t.apply(
      [
        message('big', { device: huge }),
        message('bad', { device: true }),
        message('ok', { device: 'dev-1' }),
      ],
      ctx,
    );
    expect(out.map((m) => (m.payload as { device: string }).device)).toEqual([
      expect.stringMatching(/^k1:[A-Za-z0-9_-]{22}$/),
      'k1:3rbP3aNRn2zrd-Ksv6MIUw',
    ]);
    expect(ctx.rejected.map((r) => r.message.id)).toEqual(['bad']);
  });

  it('refuses a config without a usable key, with reasons that never show the key', () => {
    const issues = (config: Record<string, unknown>): string[] => {
      const r = pseudonymizeTransformConfig.safeParse(config);
      expect(r.success).toBe(false);
      return r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    };
    const short = Buffer.alloc(31, 1).toString('base64');
    expect(issues({ key: short, keyId: 'k1', fields: ['payload.a'] })).toEqual([
      'key: the key is 31 bytes long (as base64); at least 32 are needed: generate one with `openssl rand -base64 32`',
    ]);
    const notBase64 = 'this is not base64 but is a long sentence!!';
    const reasons = issues({ key: notBase64, keyId: 'k1', fields: ['payload.a'] });
    expect(reasons).toEqual([
      'key: the key is not valid base64 (set keyEncoding: hex or utf8 if it is written otherwise)',
    ]);
    expect(reasons.join()).not.toContain(notBase64);
    expect(
      issues({ key: 'zz'.repeat(32), keyEncoding: 'hex', keyId: 'k1', fields: ['payload.a'] })[0],
    ).toMatch(/not valid hex/);
    expect(issues({ keyId: 'k1', fields: ['payload.a'] })[0]).toMatch(/^key: /);
    expect(issues({ key: KEY, fields: ['payload.a'] })[0]).toMatch(/^keyId: /);
    expect(issues({ key: KEY, keyId: 'k:1', fields: ['payload.a'] })).toEqual([
      'keyId: use 1 to 16 letters, digits, _ or -',
    ]);
    expect(issues({ key: KEY, keyId: 'k1', fields: ['payload.a'], bits: 32 })[0]).toMatch(/^bits: /);
    expect(issues({ key: KEY, keyId: 'k1', fields: ['payload.a'], bits: 100 })[0]).toMatch(/^bits: /);
    expect(issues({ key: KEY, keyId: 'k1' })).toEqual([
      'fields: nothing to pseudonymize: list at least one of fields, topicLevels or meta',
    ]);
    expect(issues({ key: KEY, keyId: 'k1', fields: ['device.id'] })).toEqual([
      'fields.0: "device.id" does not start at the payload: write payload.<field>, e.g. payload.device.id',
    ]);
    expect(issues({ key: KEY, keyId: 'k1', fields: ['payload..a', 'payload.a[x]'] })).toHaveLength(2);
    expect(issues({ key: KEY, keyId: 'k1', fields: ['payload.a'], salt: 'x' })[0]).toMatch(/salt/);
  });

  it('reads paths with quotes, indexes and wildcards', () => {
    expect(parseFieldPath('payload["serial.no"].x[2][*].*').segments).toEqual([
      'serial.no',
      'x',
      2,
      expect.any(Symbol),
      expect.any(Symbol),
    ]);
    expect(parseFieldPath('payload').segments).toEqual([]);
  });

  it('accepts its examples once their key reference is resolved', () => {
    for (const example of pseudonymizeTransform.examples ?? []) {
      const resolved = { ...example, key: KEY };
      expect(pseudonymizeTransformConfig.safeParse(resolved).success).toBe(true);
    }
  });
});

describeTransformConformance('pseudonymize', {
  neverDrops: 'it rewrites fields of every message or rejects it',
  create: () => create({ ...base, fields: ['payload.device', 'payload.tags[*].owner'], topicLevels: [1] }),
  good: [
    message('g1', { device: 'dev-1', tags: [{ owner: 'alice' }] }, { 'mqtt.topic': 'site/dev-1/t' }),
    message('g2', { device: 17, t: 3 }, { 'mqtt.topic': 'site/17' }),
    message('g3', { other: true }),
  ],
  bad: [
    message('b1', { device: ['dev-1'] }),
    message('b2', 'dev-1 as text'),
    message('b3', { device: 'ok', tags: [{ owner: null }] }),
  ],
});
