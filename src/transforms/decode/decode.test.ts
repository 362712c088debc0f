import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Message } from '../../sdk/index.js';
import { encodeCayenneLpp } from '../../sdk/codecs/index.js';
import {
  createTestTransformContext,
  describeTransformConformance,
} from '../../../test/conformance/transform.js';
import {
  checkGolden,
  bytes,
  testCreate,
  utf8,
  testMessage,
  type GoldenCase,
} from '../../../test/conformance/transform-cases.js';
import { encodeTransform } from '../encode/index.js';
import { decodeTransform, decodeTransformConfig } from './index.js';

const create = testCreate(decodeTransform);
const encoder = testCreate(encodeTransform);

const msg = testMessage;

// Cayenne LPP: channel 1 temperature 27.2 °C (0x0110), channel 2 humidity 50 % (0x64).
const LPP = bytes(0x01, 0x67, 0x01, 0x10, 0x02, 0x68, 0x64);
const LPP_OBJECT = { temperatureSensor: { '1': 27.2 }, humiditySensor: { '2': 50 } };
const LAYOUT = [
  { name: 'temperature', offset: 0, type: 'int16be', scale: 0.01 },
  { name: 'battery', offset: 2, type: 'uint8', scale: 0.02, valueOffset: 2, decimals: 2 },
  { name: 'doorOpen', offset: 3, type: 'bit', bit: 0 },
];

describeTransformConformance('decode json', {
  neverDrops: 'every message is decoded or rejected',
  create: () => create({ format: 'json' }),
  good: [msg('a', utf8('{"t":1}')), msg('b', '[1,2]'), msg('c', utf8('"x"'))],
  bad: [msg('d', utf8('{"t":')), msg('e', bytes(0xff, 0xfe)), msg('f', { already: 'decoded' }), msg('g', 12)],
});

describeTransformConformance('decode cayenne-lpp from base64', {
  neverDrops: 'every message is decoded or rejected',
  create: () =>
    create({ format: 'cayenne-lpp', field: 'payload.data', from: 'base64', target: 'payload.object' }),
  good: [msg('a', { data: Buffer.from(LPP).toString('base64'), fPort: 1 })],
  bad: [
    msg('b', { data: 'AWc=' }),
    msg('c', { data: '*not base64*' }),
    msg('d', { fPort: 1 }),
    msg('e', { data: 'AQA=' }),
  ],
});

const golden: GoldenCase[] = [
  {
    name: 'json from bytes',
    config: { format: 'json' },
    payload: utf8('{"t":21.5,"ok":true}'),
    expected: { payload: { t: 21.5, ok: true } },
  },
  {
    name: 'json from text, with a BOM-less UTF-8 é',
    config: { format: 'json' },
    payload: '{"name":"été"}',
    expected: { payload: { name: 'été' } },
  },
  {
    name: 'json in a field, into another field',
    config: { format: 'json', field: 'payload.raw', target: 'payload.parsed' },
    payload: { raw: '[1,2]', n: 1 },
    expected: { payload: { raw: '[1,2]', n: 1, parsed: [1, 2] } },
  },
  {
    name: 'text from bytes',
    config: { format: 'text' },
    payload: utf8('21.5 °C'),
    expected: { payload: '21.5 °C' },
  },
  {
    name: 'base64 to bytes (standard, with padding)',
    config: { format: 'base64' },
    payload: 'AWcBEA==',
    expected: { payload: bytes(1, 0x67, 1, 0x10) },
  },
  {
    name: 'base64url without padding, whitespace ignored',
    config: { format: 'base64' },
    payload: '-_8\n',
    expected: { payload: bytes(0xfb, 0xff) },
  },
  {
    name: 'hex to bytes, upper or lower case',
    config: { format: 'hex' },
    payload: '0167 0110Ff',
    expected: { payload: bytes(1, 0x67, 1, 0x10, 0xff) },
  },
  {
    name: 'cayenne-lpp from bytes',
    config: { format: 'cayenne-lpp' },
    payload: LPP,
    expected: { payload: LPP_OBJECT },
  },
  {
    name: 'cayenne-lpp from hex in metadata',
    config: { format: 'cayenne-lpp', field: 'meta.lora.frame', from: 'hex', target: 'payload' },
    payload: null,
    meta: { 'lora.frame': '01670110' },
    expected: { payload: { temperatureSensor: { '1': 27.2 } }, meta: { 'lora.frame': '01670110' } },
  },
  {
    name: 'byte layout',
    config: { format: 'byte-layout', layout: LAYOUT },
    payload: bytes(0x08, 0x66, 80, 0b1),
    expected: { payload: { temperature: 21.5, battery: 3.6, doorOpen: true } },
  },
  {
    name: 'invalid JSON is rejected with the parser message',
    config: { format: 'json' },
    payload: '{"t":',
    expected: {
      rejected: 'decode json: payload is not valid JSON: Unexpected end of JSON input',
    },
  },
  {
    name: 'invalid UTF-8 is rejected',
    config: { format: 'text' },
    payload: bytes(0xc3, 0x28),
    expected: { rejected: 'decode text: payload is not valid UTF-8 text' },
  },
  {
    name: 'an object has nothing to decode',
    config: { format: 'json' },
    payload: { t: 1 },
    expected: {
      rejected:
        'decode json: payload is an object, not bytes or text: nothing to decode (was it decoded already? see the source\u2019s payload setting)',
    },
  },
  {
    name: 'a missing field',
    config: { format: 'base64', field: 'payload.data' },
    payload: { fPort: 2 },
    expected: { rejected: 'decode base64: payload.data is missing' },
  },
  {
    name: 'bad hex',
    config: { format: 'hex' },
    payload: '0g',
    expected: { rejected: 'decode hex: payload is not hex text (pairs of 0-9, a-f)' },
  },
  {
    name: 'a truncated LPP frame',
    config: { format: 'cayenne-lpp' },
    payload: bytes(1, 0x67, 1),
    expected: {
      rejected:
        'decode cayenne-lpp: payload could not be decoded: Cayenne LPP frame truncated: temperatureSensor on channel 1 at offset 0 needs 2 value bytes, 1 left',
    },
  },
  {
    name: 'a frame given as text without from',
    config: { format: 'cayenne-lpp' },
    payload: 'AWcBEA==',
    expected: { rejected: 'decode cayenne-lpp: payload is text, not bytes: set from: base64 or from: hex' },
  },
  {
    name: 'a frame too short for the layout',
    config: { format: 'byte-layout', layout: LAYOUT },
    payload: bytes(8),
    expected: {
      rejected:
        'decode byte-layout: payload could not be decoded: byte layout: field "temperature" (int16be) needs bytes 0..1, the frame has 1 byte(s)',
    },
  },
  {
    name: 'over maxBytes',
    config: { format: 'text', maxBytes: 1024 },
    payload: new Uint8Array(1025),
    expected: { rejected: 'decode text: payload is 1025 bytes long, more than maxBytes (1024)' },
  },
  {
    name: 'cannot write into a non-object',
    config: { format: 'json', field: 'payload.raw', target: 'payload.raw.parsed' },
    payload: { raw: '1' },
    expected: {
      rejected: 'decode json: cannot write payload.raw.parsed: the value on the way is string, not an object',
    },
  },
];

describe('decode', () => {
  it.each(golden)('$name', (c) => checkGolden(create, c));

  it('round-trips with encode: json, text, base64, hex', () => {
    const pairs = [
      ['json', fc.jsonValue()],
      ['text', fc.string({ unit: 'grapheme' })],
      ['base64', fc.uint8Array({ maxLength: 300 })],
      ['hex', fc.uint8Array({ maxLength: 300 })],
    ] as const;
    for (const [format, arbitrary] of pairs) {
      const enc = encoder({ format });
      const dec = create({ format });
      fc.assert(
        fc.property(arbitrary as fc.Arbitrary<unknown>, (value) => {
          const ctx = createTestTransformContext();
          const encoded = enc.apply([msg('x', value)], ctx) as Message[];
          const decoded = dec.apply(encoded, ctx) as Message[];
          expect(ctx.rejected).toEqual([]);
          // JSON has no -0: it comes back as 0.
          expect(decoded[0]!.payload).toEqual(format === 'json' ? JSON.parse(JSON.stringify(value)) : value);
        }),
        { numRuns: 150 },
      );
    }
  });

  it('round-trips Cayenne LPP frames through the shared codec', () => {
    const dec = create({ format: 'cayenne-lpp', from: 'base64' });
    const enc = encoder({ format: 'cayenne-lpp', to: 'base64' });
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.integer({ min: 0, max: 255 }).map(String),
          fc.integer({ min: -3276, max: 3276 }).map((n) => n / 10),
          { minKeys: 1, maxKeys: 5 },
        ),
        fc.dictionary(
          fc.integer({ min: 0, max: 255 }).map(String),
          fc.integer({ min: 0, max: 200 }).map((n) => n / 2),
          { maxKeys: 3 },
        ),
        (temperatures, humidities) => {
          const object = {
            temperatureSensor: temperatures,
            ...(Object.keys(humidities).length ? { humiditySensor: humidities } : {}),
          };
          const ctx = createTestTransformContext();
          const frame = enc.apply([msg('x', object)], ctx) as Message[];
          expect(frame[0]!.payload).toBe(encodeCayenneLpp(object).toString('base64'));
          const back = dec.apply(frame, ctx) as Message[];
          expect(ctx.rejected).toEqual([]);
          expect(back[0]!.payload).toEqual(object);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('rejects random bytes with a reason, never throws', () => {
    const transforms = [
      create({ format: 'json' }),
      create({ format: 'text' }),
      create({ format: 'cayenne-lpp' }),
      create({ format: 'byte-layout', layout: LAYOUT }),
    ];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        for (const t of transforms) {
          const ctx = createTestTransformContext();
          const out = t.apply([msg('r', data)], ctx) as Message[];
          expect(out.length + ctx.rejected.length).toBe(1);
          for (const r of ctx.rejected) expect(r.reason).toMatch(/^decode [a-z-]+: payload /);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a broken config with a clear message', () => {
    const issues = (config: unknown) =>
      decodeTransformConfig.safeParse(config).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ format: 'byte-layout' })).toEqual(['layout: format byte-layout needs a layout']);
    expect(issues({ format: 'json', layout: LAYOUT })).toEqual([
      'layout: layout is only for format byte-layout, not json',
    ]);
    expect(issues({ format: 'json', from: 'base64' })?.[0]).toContain(
      'from is only for cayenne-lpp and byte-layout',
    );
    expect(issues({ format: 'xml' })?.[0]).toMatch(/^format: /);
    expect(issues({ format: 'json', field: 'body.raw' })).toEqual([
      'field: "body.raw" must be payload, payload.<path> or meta.<key>',
    ]);
    expect(issues({ format: 'json', maxBytes: '1GB' })?.[0]).toMatch(/^maxBytes: /);
    expect(issues({ format: 'json', maxBytes: 0 })?.[0]).toMatch(/^maxBytes: /);
    expect(issues({ format: 'byte-layout', layout: [{ name: 'a', offset: 0, type: 'int24' }] })?.[0]).toMatch(
      /^layout\.0/,
    );
    for (const example of decodeTransform.examples ?? [])
      expect(decodeTransformConfig.safeParse(example).success).toBe(true);
  });
});
