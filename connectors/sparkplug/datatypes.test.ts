import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DataType,
  SparkplugValueError,
  dataTypeCode,
  decodeMetric,
  encodeValue,
  float32ToNumber,
  inferDataType,
  type MetricInput,
} from './datatypes.js';
import { decodePayload, encodePayload } from './payload.js';

// Tahu's own high-level codec is the independent peer: what it writes we read, and the reverse.
const require = createRequire(import.meta.url);
const tahu = (require('sparkplug-payload') as { get(ns: string): TahuCodec }).get('spBv1.0');
interface TahuCodec {
  encodePayload(p: object): Uint8Array;
  decodePayload(b: Uint8Array): { metrics?: { name?: string; type: string; value: unknown }[] };
}

const LIMITS = { maxBytes: 1 << 20 };

/** Our encoder -> our decoder, one metric. */
function roundTrip(datatype: string, value: unknown): unknown {
  const bytes = encodePayload({ timestamp: 1, seq: 0, metrics: [{ name: 'm', datatype, value }] });
  const decoded = decodePayload(bytes, LIMITS);
  if (!decoded.ok) throw new Error(decoded.reason);
  return decodeMetric(decoded.payload.metrics[0]!).value;
}

/** Tahu's encoder -> our decoder. */
function fromTahu(type: string, value: unknown): unknown {
  const bytes = tahu.encodePayload({ timestamp: 1, seq: 0, metrics: [{ name: 'm', type, value }] });
  const decoded = decodePayload(bytes, LIMITS);
  if (!decoded.ok) throw new Error(decoded.reason);
  return decodeMetric(decoded.payload.metrics[0]!).value;
}

/** Our encoder -> Tahu's decoder. */
function toTahu(datatype: string, value: unknown): { type: string; value: unknown } {
  const bytes = encodePayload({ timestamp: 1, seq: 0, metrics: [{ name: 'm', datatype, value }] });
  const m = tahu.decodePayload(bytes).metrics![0]!;
  return { type: m.type, value: m.value };
}

describe('Sparkplug datatypes', () => {
  it('names and codes', () => {
    expect(dataTypeCode('int64')).toBe(4);
    expect(dataTypeCode('DateTimeArray')).toBe(34);
    expect(dataTypeCode('Unknown')).toBeUndefined();
    expect(dataTypeCode(35)).toBeUndefined();
  });

  it.each([
    ['Int8', -128],
    ['Int8', 127],
    ['Int16', -32768],
    ['Int32', -2147483648],
    ['Int32', 2147483647],
    ['UInt8', 255],
    ['UInt16', 65535],
    ['UInt32', 4294967295],
    ['Int64', '-9223372036854775808'],
    ['Int64', '9223372036854775807'],
    ['UInt64', '18446744073709551615'],
    ['Float', 21.3],
    ['Float', 'NaN'],
    ['Double', 0.1],
    ['Double', '-Infinity'],
    ['Boolean', false],
    ['String', ''],
    ['Text', 'état ✓'],
    ['UUID', '6f1c1d2e-1111-4e7a-9b1b-123456789abc'],
    ['DateTime', '2026-12-05T10:30:00.123Z'],
    ['DateTime', '1969-12-31T23:59:59.999Z'],
    ['Bytes', Buffer.from([0, 1, 254, 255]).toString('base64')],
    ['File', Buffer.from('hello').toString('base64')],
  ])('%s %s survives encode -> decode exactly', (type, value) => {
    expect(roundTrip(type, value)).toEqual(value);
  });

  it('reads what Tahu writes, including the values Tahu itself reads wrongly', () => {
    expect(fromTahu('Int8', -1)).toBe(-1);
    expect(fromTahu('Int16', -300)).toBe(-300);
    expect(fromTahu('Int32', -5)).toBe(-5);
    expect(fromTahu('UInt32', 4294967295)).toBe(4294967295); // Tahu reads back -1
    expect(fromTahu('Int64', -5)).toBe('-5');
    expect(fromTahu('UInt64', '18446744073709551615')).toBe('18446744073709551615');
    expect(fromTahu('Float', 1.1)).toBe(1.1);
    expect(fromTahu('Double', 1.1)).toBe(1.1);
    expect(fromTahu('Boolean', true)).toBe(true);
    expect(fromTahu('String', 'x')).toBe('x');
    expect(fromTahu('DateTime', 1764930600000)).toBe(new Date(1764930600000).toISOString());
    expect(fromTahu('Bytes', new Uint8Array([1, 2, 3]))).toBe('AQID');
    expect(
      fromTahu('DataSet', {
        numOfColumns: 2,
        columns: ['a', 'b'],
        types: ['Int32', 'String'],
        rows: [
          [1, 'x'],
          [-2, 'y'],
        ],
      }),
    ).toEqual({
      columns: ['a', 'b'],
      types: ['Int32', 'String'],
      rows: [
        [1, 'x'],
        [-2, 'y'],
      ],
    });
    expect(
      fromTahu('Template', {
        templateRef: 'Motor',
        isDefinition: false,
        metrics: [{ name: 'rpm', type: 'Int32', value: 1500 }],
        parameters: [{ name: 'model', type: 'String', value: 'M1' }],
      }),
    ).toEqual({
      templateRef: 'Motor',
      isDefinition: false,
      parameters: [{ name: 'model', type: 'String', value: 'M1' }],
      metrics: [{ name: 'rpm', datatype: 'Int32', value: 1500 }],
    });
  });

  it('writes what Tahu reads', () => {
    expect(toTahu('Int32', -7)).toEqual({ type: 'Int32', value: -7 });
    expect(toTahu('Boolean', true)).toEqual({ type: 'Boolean', value: true });
    expect(toTahu('String', 'abc')).toEqual({ type: 'String', value: 'abc' });
    expect(toTahu('Double', 2.5)).toEqual({ type: 'Double', value: 2.5 });
    const long = toTahu('Int64', '-9007199254740993');
    expect(long.type).toBe('Int64');
    // Tahu hands back the unsigned Long here (its instanceof check misses protobufjs' Long): the bits are right.
    expect((long.value as { toSigned(): { toString(): string } }).toSigned().toString()).toBe(
      '-9007199254740993',
    );
    const uint64 = toTahu('UInt64', '18446744073709551615');
    expect((uint64.value as { toUnsigned(): { toString(): string } }).toUnsigned().toString()).toBe(
      '18446744073709551615',
    );
    expect(
      toTahu('DataSet', { columns: ['c'], types: ['Boolean'], rows: [[true], [false]] }).value,
    ).toMatchObject({
      columns: ['c'],
      types: ['Boolean'],
      rows: [[true], [false]],
    });
  });

  it('accepts both encodings of a negative Int8 (0xFFFFFFFF from Tahu, 0xFF from others)', () => {
    const m = (intValue: number) => decodeMetric({ name: 'x', datatype: DataType.Int8, intValue });
    expect(m(0xffffffff).value).toBe(-1);
    expect(m(0xff).value).toBe(-1);
    expect(m(0x80).value).toBe(-128);
    expect(() => m(0x1ff).value).toThrow(SparkplugValueError);
  });

  it('packs arrays as the Sparkplug 3.0 examples show', () => {
    // The specification prints [0xEF, 0x7B]; -23 is 0xE9 in two's complement (0xEF is -17): an erratum.
    expect(Buffer.from(encodeValue(DataType.Int8Array, [-23, 123]).bytesValue!)).toEqual(
      Buffer.from([0xe9, 0x7b]),
    );
    expect(
      Buffer.from(
        encodeValue(DataType.BooleanArray, [
          false,
          false,
          true,
          true,
          false,
          true,
          false,
          false,
          true,
          true,
          false,
          true,
        ]).bytesValue!,
      ),
    ).toEqual(Buffer.from([0x0c, 0, 0, 0, 0x34, 0xd0]));
    expect(Buffer.from(encodeValue(DataType.StringArray, ['ABC', 'hello']).bytesValue!)).toEqual(
      Buffer.from([0x41, 0x42, 0x43, 0, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0]),
    );
    expect(Buffer.from(encodeValue(DataType.Int32Array, [123456789, 987654321]).bytesValue!)).toEqual(
      Buffer.from([0x15, 0xcd, 0x5b, 0x07, 0xb1, 0x68, 0xde, 0x3a]),
    );
  });

  it.each([
    ['Int8Array', [-128, 0, 127]],
    ['Int16Array', [-32768, 32767]],
    ['Int32Array', [-1, 2147483647]],
    ['Int64Array', ['-9223372036854775808', '42']],
    ['UInt8Array', [0, 255]],
    ['UInt16Array', [65535]],
    ['UInt32Array', [4294967295, 0]],
    ['UInt64Array', ['18446744073709551615']],
    ['FloatArray', [1.23, 89.341, 'NaN']],
    ['DoubleArray', [12.354213, 1022.9123213]],
    ['BooleanArray', [true, false, true, true, true, false, false, false, true]],
    ['StringArray', ['', 'a', 'ü']],
    ['DateTimeArray', ['2026-01-01T00:00:00.000Z', '1970-01-01T00:00:00.001Z']],
    ['BooleanArray', []],
    ['StringArray', []],
  ])('%s %j survives encode -> decode', (type, value) => {
    expect(roundTrip(type, value)).toEqual(value);
  });

  it('round-trips DataSet, Template and PropertySet values', () => {
    const dataset = {
      columns: ['t', 'count', 'ok'],
      types: ['DateTime', 'Int64', 'Boolean'],
      rows: [
        ['2026-01-01T00:00:00.000Z', '9007199254740993', true],
        [null, '-1', null],
      ],
    };
    expect(roundTrip('DataSet', dataset)).toEqual(dataset);
    const template = {
      isDefinition: true,
      templateRef: undefined,
      version: '1.0',
      parameters: [{ name: 'max', type: 'UInt64', value: '18446744073709551615' }],
      metrics: [
        {
          name: 'inner',
          datatype: 'Template',
          value: { isDefinition: false, templateRef: 'Sub', parameters: [], metrics: [] },
        },
      ],
    };
    const { templateRef: _unused, ...expected } = template;
    expect(roundTrip('Template', template)).toEqual(expected);
    const props = {
      engUnit: { type: 'String', value: 'kPa' },
      nested: { type: 'PropertySet', value: { q: { type: 'Int32', value: 192 } } },
    };
    const withProps = (properties: Record<string, unknown>) => {
      const decoded = decodePayload(
        encodePayload({ metrics: [{ name: 'p', datatype: 'Boolean', value: true, properties }] }),
        LIMITS,
      );
      if (!decoded.ok) throw new Error(decoded.reason);
      return decodeMetric(decoded.payload.metrics[0]!).properties;
    };
    expect(withProps(props)).toEqual(props);
    const list = { list: { type: 'PropertySetList', value: [props, {}] } };
    expect(withProps(list)).toEqual(list);
    // The Metric message has no PropertySet value field.
    expect(() => roundTrip('PropertySet', props)).toThrow('property type');
  });

  it('keeps metric properties, metadata, alias and timestamp', () => {
    const input: MetricInput = {
      name: 'Temp',
      alias: 7n,
      datatype: 'Float',
      value: 21.5,
      timestamp: 1764930600123,
      isHistorical: true,
      properties: { Quality: { type: 'Int32', value: 192 }, engUnit: 'degC' },
      metadata: { contentType: 'text/plain', fileName: 'x.txt' },
    };
    const decoded = decodePayload(encodePayload({ timestamp: 5, seq: 9, metrics: [input] }), LIMITS);
    if (!decoded.ok) throw new Error(decoded.reason);
    expect(decoded.payload).toMatchObject({ timestamp: 5, seq: 9 });
    expect(decodeMetric(decoded.payload.metrics[0]!)).toEqual({
      name: 'Temp',
      alias: '7',
      datatype: 'Float',
      value: 21.5,
      timestamp: 1764930600123,
      isHistorical: true,
      properties: {
        Quality: { type: 'Int32', value: 192 },
        engUnit: { type: 'String', value: 'kPa'.replace('kPa', 'degC') },
      },
      metadata: { contentType: 'text/plain', fileName: 'x.txt' },
    });
  });

  it('a null value is is_null, and data without datatype takes it from the birth', () => {
    const bytes = encodePayload(
      {
        timestamp: 1,
        seq: 1,
        metrics: [
          { alias: 3, datatype: 'Int16', value: -2 },
          { alias: 4, datatype: 'Double', value: null },
        ],
      },
      { omitDatatype: true },
    );
    const decoded = decodePayload(bytes, LIMITS);
    if (!decoded.ok) throw new Error(decoded.reason);
    const [a, b] = decoded.payload.metrics;
    expect(Object.hasOwn(a!, 'datatype')).toBe(false);
    expect(() => decodeMetric(a!)).toThrow('no datatype');
    expect(decodeMetric(a!, DataType.Int16).value).toBe(-2);
    expect(decodeMetric(b!, DataType.Double)).toMatchObject({ value: null, alias: '4' });
  });

  it.each([
    ['Int8', 128, 'out of the range of Int8'],
    ['UInt8', -1, 'out of the range of UInt8'],
    ['UInt64', '-1', 'out of the range of UInt64'],
    ['Int64', 1.5, 'is not an integer'],
    ['Int32', 'abc', 'is not an integer'],
    ['Double', 'abc', 'is not a number'],
    ['Boolean', 'yes', 'is not a boolean'],
    ['DateTime', 'not a date', 'is not a date'],
    ['Bytes', '%%%', 'is not base64'],
    ['DataSet', { columns: ['a'], types: ['Int32'], rows: [[1, 2]] }, 'row 0'],
    ['StringArray', ['a\u0000b'], 'NUL'],
    ['String', { a: 1 }, 'is not text'],
  ])('refuses %s %j: %s', (type, value, reason) => {
    expect(() => encodeValue(dataTypeCode(type)!, value)).toThrow(reason);
  });

  it('Float is the shortest decimal of the float32', () => {
    expect(float32ToNumber(Math.fround(21.3))).toBe(21.3);
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (f) => {
        const n = float32ToNumber(f);
        expect(Math.fround(n)).toBe(f);
      }),
    );
  });

  it('any Int64 and UInt64 survives exactly', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        (i, u) => {
          expect(roundTrip('Int64', i)).toBe(i.toString());
          expect(roundTrip('UInt64', u.toString())).toBe(u.toString());
        },
      ),
      { numRuns: 200 },
    );
  });

  it('infers a datatype for undeclared values', () => {
    expect(inferDataType(true)).toBe(DataType.Boolean);
    expect(inferDataType(3)).toBe(DataType.Double);
    expect(inferDataType(3n)).toBe(DataType.Int64);
    expect(inferDataType('x')).toBe(DataType.String);
    expect(inferDataType([1, 2])).toBe(DataType.DoubleArray);
    expect(inferDataType([1, 'a'])).toBeUndefined();
    expect(inferDataType({})).toBeUndefined();
  });
});
