import { beforeAll, describe, expect, it } from 'vitest';
import { loadOpcua, type Lib } from './connection.js';
import {
  BuiltIn,
  CoercionError,
  float32ToNumber,
  int64ToString,
  jsonToVariant,
  qualityOf,
  variantToJson,
} from './values.js';

let lib: Lib;
beforeAll(async () => {
  lib = await loadOpcua();
});

describe('OPC UA values -> JSON', () => {
  it('keeps Int64 and UInt64 exact, as decimal strings', () => {
    expect(int64ToString([0x7fffffff, 0xffffffff], true)).toBe('9223372036854775807');
    expect(int64ToString([0x80000000, 0], true)).toBe('-9223372036854775808');
    expect(int64ToString([0xffffffff, 0xffffffff], true)).toBe('-1');
    expect(int64ToString([0xffffffff, 0xffffffff], false)).toBe('18446744073709551615');
    expect(int64ToString([0x200000, 1], false)).toBe('9007199254740993');
  });

  it('gives Float values as the shortest decimal of the float32', () => {
    expect(float32ToNumber(Math.fround(21.3))).toBe(21.3);
    expect(float32ToNumber(Math.fround(0.1))).toBe(0.1);
    expect(float32ToNumber(Math.fround(16777217))).toBe(16777216);
    expect(float32ToNumber(Math.fround(1e-45))).toBe(1e-45);
  });

  it('maps NaN and infinities to text, since JSON has no such numbers', () => {
    const v = (value: number) => new lib.Variant({ dataType: lib.DataType.Double, value });
    expect(variantToJson(v(NaN))).toBe('NaN');
    expect(variantToJson(v(-Infinity))).toBe('-Infinity');
    expect(JSON.stringify(variantToJson(v(Infinity)))).toBe('"Infinity"');
  });

  it('maps typed arrays to plain arrays and matrices to nested arrays', () => {
    const array = new lib.Variant({
      dataType: lib.DataType.Int32,
      arrayType: lib.VariantArrayType.Array,
      value: new Int32Array([1, -2]),
    });
    expect(variantToJson(array)).toEqual([1, -2]);
    const matrix = new lib.Variant({
      dataType: lib.DataType.Double,
      arrayType: lib.VariantArrayType.Matrix,
      value: new Float64Array([1, 2, 3, 4, 5, 6]),
      dimensions: [2, 3],
    });
    expect(variantToJson(matrix)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(variantToJson(new lib.Variant({ dataType: lib.DataType.Null }))).toBeNull();
  });

  it('leaves a matrix flat when its dimensions do not describe its values (a zero dimension looped forever)', () => {
    // As a server can send them: Variant's constructor would refuse some of these.
    const matrix = (dimensions: number[], count = 4) =>
      ({
        dataType: lib.DataType.Double,
        arrayType: lib.VariantArrayType.Matrix,
        value: Float64Array.from({ length: count }, (_, i) => i),
        dimensions,
      }) as unknown as Parameters<typeof variantToJson>[0];
    for (const dimensions of [
      [2, 0],
      [4, -1],
      [0, 0],
      [2, 2, 0],
      [3, 2],
      [2, 2.5],
    ])
      expect(variantToJson(matrix(dimensions)), JSON.stringify(dimensions)).toEqual([0, 1, 2, 3]);
    expect(variantToJson(matrix([2, 2]))).toEqual([
      [0, 1],
      [2, 3],
    ]);
  });

  it('derives the quality from the severity bits of the status code', () => {
    expect(qualityOf(0)).toBe('good');
    expect(qualityOf(lib.StatusCodes.UncertainLastUsableValue.value)).toBe('uncertain');
    expect(qualityOf(lib.StatusCodes.BadSensorFailure.value)).toBe('bad');
  });
});

describe('JSON -> OPC UA values (the write sink)', () => {
  const write = (dataType: number, value: unknown, valueRank = -1) =>
    jsonToVariant(lib, { dataType, valueRank }, value);
  const fails = (dataType: number, value: unknown, message: RegExp, valueRank = -1) => {
    expect(() => write(dataType, value, valueRank)).toThrow(CoercionError);
    expect(() => write(dataType, value, valueRank)).toThrow(message);
  };

  it('converts what a user would expect, exactly', () => {
    expect(write(BuiltIn.Int64, '-9223372036854775808').value).toEqual([0x80000000, 0]);
    expect(write(BuiltIn.UInt64, '18446744073709551615').value).toEqual([0xffffffff, 0xffffffff]);
    expect(write(BuiltIn.Byte, '255').value).toBe(255);
    expect(write(BuiltIn.Boolean, 1).value).toBe(true);
    expect(write(BuiltIn.Double, 'NaN').value).toBeNaN();
    expect((write(BuiltIn.DateTime, 0).value as Date).toISOString()).toBe('1970-01-01T00:00:00.000Z');
    expect(write(BuiltIn.ByteString, 'AAEC').value).toEqual(Buffer.from([0, 1, 2]));
    expect(write(BuiltIn.String, 42).value).toBe('42');
    expect(write(BuiltIn.Double, [1, '2'], 1).value).toEqual(new Float64Array([1, 2]));
  });

  it('refuses what can not be converted, saying why', () => {
    fails(BuiltIn.Byte, 256, /256 is out of the range of Byte \(0\.\.255\)/);
    fails(BuiltIn.Int16, 1.5, /not an integer/);
    fails(BuiltIn.Int64, 2 ** 60, /give integers above 2\^53 as strings/);
    fails(BuiltIn.UInt64, '-1', /out of the range of UInt64/);
    fails(BuiltIn.Double, 'warm', /expected a number/);
    fails(BuiltIn.Boolean, 'yes', /expected true or false/);
    fails(BuiltIn.DateTime, 'tomorrow', /ISO 8601/);
    fails(BuiltIn.ByteString, 'not base64!', /base64/);
    fails(BuiltIn.String, { a: 1 }, /cannot convert \{"a":1\} to String/);
    fails(BuiltIn.Double, [1, 2], /single Double: got an array/);
    fails(BuiltIn.Double, 1, /holds an array of Double/, 1);
    fails(BuiltIn.Int32, [1, 'x'], /item 1: cannot convert "x" to Int32/, 1);
    fails(BuiltIn.Double, null, /cannot write null/);
    fails(BuiltIn.Double, undefined, /no value to write/);
    fails(BuiltIn.ExtensionObject, {}, /writing ExtensionObject values is not supported/);
  });
});
