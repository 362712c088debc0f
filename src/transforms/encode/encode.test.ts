import { describe, expect, it } from 'vitest';
import { type Message } from '../../sdk/index.js';
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
import { encodeTransform, encodeTransformConfig } from './index.js';

// Round trips with decode, and the property tests, are in ../decode/decode.test.ts.

const create = testCreate(encodeTransform);
const msg = testMessage;

const LAYOUT = [
  { name: 'setpoint', offset: 0, type: 'int16be', scale: 0.1 },
  { name: 'fanOn', offset: 2, type: 'bit', bit: 0 },
];

describeTransformConformance('encode json', {
  neverDrops: 'every message is encoded or rejected',
  create: () => create({ format: 'json' }),
  good: [msg('a', { t: 1 }), msg('b', 'text'), msg('c', [1, null])],
  bad: [msg('d', { t: Number.NaN }), msg('e', { n: 10n }), msg('f', undefined)],
});

describeTransformConformance('encode cayenne-lpp to base64', {
  neverDrops: 'every message is encoded or rejected',
  create: () =>
    create({ format: 'cayenne-lpp', field: 'payload.object', target: 'payload.data', to: 'base64' }),
  good: [msg('a', { devEui: '0011', object: { temperatureSensor: { '1': 21.5 } } })],
  bad: [
    msg('b', { object: { nope: { '1': 1 } } }),
    msg('c', { object: { temperatureSensor: { '1': 99999 } } }),
    msg('d', {}),
  ],
});

const golden: GoldenCase[] = [
  {
    name: 'json to UTF-8 bytes',
    config: { format: 'json' },
    payload: { t: 21.5, name: 'été' },
    expected: { payload: utf8('{"t":21.5,"name":"été"}') },
  },
  {
    name: 'json writes bytes inside a value as base64',
    config: { format: 'json' },
    payload: { raw: bytes(1, 2, 3) },
    expected: { payload: utf8('{"raw":"AQID"}') },
  },
  {
    name: 'text from a number',
    config: { format: 'text' },
    payload: 21.5,
    expected: { payload: utf8('21.5') },
  },
  {
    name: 'base64 of bytes, into a field',
    config: { format: 'base64', field: 'payload.frame', target: 'payload.data' },
    payload: { frame: bytes(1, 0x67, 1, 0x10) },
    expected: { payload: { frame: bytes(1, 0x67, 1, 0x10), data: 'AWcBEA==' } },
  },
  {
    name: 'hex of text (its UTF-8)',
    config: { format: 'hex' },
    payload: 'é',
    expected: { payload: 'c3a9' },
  },
  {
    name: 'cayenne-lpp to bytes',
    config: { format: 'cayenne-lpp' },
    payload: { temperatureSensor: { '1': 27.2 }, humiditySensor: { '2': 50 } },
    expected: { payload: bytes(1, 0x67, 1, 0x10, 2, 0x68, 0x64) },
  },
  {
    name: 'byte layout to hex, from metadata into metadata',
    config: { format: 'byte-layout', layout: LAYOUT, field: 'meta.command', target: 'meta.frame', to: 'hex' },
    payload: null,
    meta: { command: { setpoint: 21.5, fanOn: true } },
    expected: { payload: null, meta: { command: { setpoint: 21.5, fanOn: true }, frame: '00d701' } },
  },
  {
    name: 'NaN has no JSON',
    config: { format: 'json' },
    payload: { t: Number.NaN },
    expected: { rejected: 'encode json: payload has a number JSON cannot hold (NaN)' },
  },
  {
    name: 'an object is not text',
    config: { format: 'text' },
    payload: { t: 1 },
    expected: {
      rejected:
        'encode text: payload is an object: text takes a string, a finite number or a boolean (use json for objects)',
    },
  },
  {
    name: 'a number is not bytes for base64',
    config: { format: 'base64' },
    payload: 5,
    expected: {
      rejected: 'encode base64: payload is a number, not bytes or text (encode it as json or text first)',
    },
  },
  {
    name: 'an LPP value out of range',
    config: { format: 'cayenne-lpp' },
    payload: { temperatureSensor: { '1': 5000 } },
    expected: {
      rejected:
        'encode cayenne-lpp: payload could not be encoded: Cayenne LPP encode: temperatureSensor.1 = 5000 is out of range [-3276.8, 3276.7]',
    },
  },
  {
    name: 'a layout field missing',
    config: { format: 'byte-layout', layout: LAYOUT },
    payload: { fanOn: false },
    expected: {
      rejected:
        'encode byte-layout: payload could not be encoded: byte layout encode: field "setpoint" must be a finite number, got undefined',
    },
  },
  {
    name: 'over maxBytes',
    config: { format: 'json', maxBytes: 10 },
    payload: 'x'.repeat(20),
    expected: { rejected: 'encode json: payload gives 22 bytes, more than maxBytes (10)' },
  },
  {
    name: 'a missing field',
    config: { format: 'json', field: 'payload.object' },
    payload: {},
    expected: { rejected: 'encode json: payload.object is missing' },
  },
];

describe('encode', () => {
  it.each(golden)('$name', (c) => checkGolden(create, c));

  it('gives bytes of their own, not a view of a shared pool', () => {
    const [out] = create({ format: 'text' }).apply(
      [msg('1', 'abc')],
      createTestTransformContext(),
    ) as Message[];
    const payload = out!.payload as Uint8Array;
    expect(payload.byteOffset).toBe(0);
    expect(payload.buffer.byteLength).toBe(3);
  });

  it('refuses a broken config with a clear message', () => {
    const issues = (config: unknown) =>
      encodeTransformConfig.safeParse(config).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ format: 'byte-layout' })).toEqual(['layout: format byte-layout needs a layout']);
    expect(issues({ format: 'json', to: 'hex' })?.[0]).toContain(
      'to is only for cayenne-lpp and byte-layout',
    );
    expect(issues({ format: 'json', target: 'out' })).toEqual([
      'target: "out" must be payload, payload.<path> or meta.<key>',
    ]);
    for (const example of encodeTransform.examples ?? [])
      expect(encodeTransformConfig.safeParse(example).success).toBe(true);
  });
});
