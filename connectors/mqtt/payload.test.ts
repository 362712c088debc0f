import { describe, expect, it } from 'vitest';
import { jsonMessage } from '../../src/sdk/index.js';
import { decodePayload, encodeMessagePayload, encodePayload } from './payload.js';

const bytes = (s: string): Uint8Array => Buffer.from(s);

describe('decodePayload', () => {
  it('decodes json, text and bytes', () => {
    expect(decodePayload(bytes('{"a":[1,2]}'), 'json', 100)).toEqual({
      ok: true,
      value: { a: [1, 2] },
      text: '{"a":[1,2]}',
    });
    expect(decodePayload(bytes('42'), 'json', 100)).toEqual({ ok: true, value: 42 });
    expect(decodePayload(bytes('héllo'), 'text', 100)).toEqual({ ok: true, value: 'héllo' });
    const raw = Uint8Array.from([0, 255]);
    expect(decodePayload(raw, 'bytes', 100)).toEqual({ ok: true, value: raw });
  });

  it('gives readable reasons', () => {
    expect(decodePayload(bytes('{"a": }'), 'json', 100)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^invalid JSON: /),
    });
    expect(decodePayload(bytes(''), 'json', 100)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^invalid JSON: .*end of JSON input/),
    });
    expect(decodePayload(Uint8Array.from([0xff]), 'json', 100)).toEqual({
      ok: false,
      reason: 'invalid UTF-8 in the payload (1 bytes)',
    });
    expect(decodePayload(Uint8Array.from([0xc3]), 'text', 100)).toEqual({
      ok: false,
      reason: 'invalid UTF-8 in the payload (1 bytes)',
    });
    expect(decodePayload(new Uint8Array(101), 'bytes', 100)).toEqual({
      ok: false,
      reason: 'payload of 101 bytes exceeds maxPayloadBytes 100',
    });
    const long = decodePayload(bytes(`{"x": ${'1'.repeat(5000)}!}`), 'json', 1e6);
    expect(long.ok || long.reason.length).toBeLessThan(220);
  });
});

describe('encodeMessagePayload', () => {
  it('sends the text a message came as while its payload is unchanged, and serialises a replaced one', () => {
    const text = '{ "a" : 1.0, "n": 12345678901234567890 }';
    const m = jsonMessage('1', JSON.parse(text), text, {}, 1);
    expect(encodeMessagePayload(m, 'json').toString()).toBe(text);
    expect(encodeMessagePayload({ ...m }, 'json').toString()).toBe('{"a":1,"n":12345678901234567000}');
    m.payload = { b: 2 };
    expect(encodeMessagePayload(m, 'json').toString()).toBe('{"b":2}');
    // Only JSON reuses the text: other encodings judge the value as before.
    expect(() => encodeMessagePayload(jsonMessage('2', ['x'], '["x"]', {}, 1), 'bytes')).toThrow(
      /needs a bytes or string/,
    );
  });
});

describe('encodePayload', () => {
  it('encodes per encoding; bytes always pass through', () => {
    expect(encodePayload({ a: 1 }, 'json').toString()).toBe('{"a":1}');
    expect(encodePayload('s', 'json').toString()).toBe('"s"');
    expect(encodePayload(undefined, 'json').toString()).toBe('null');
    expect(encodePayload('s', 'text').toString()).toBe('s');
    expect(encodePayload(1.5, 'text').toString()).toBe('1.5');
    expect(encodePayload('s', 'bytes').toString()).toBe('s');
    expect([...encodePayload(Uint8Array.from([1, 2]), 'json')]).toEqual([1, 2]);
  });

  it('throws readable errors for what it can not encode', () => {
    expect(() => encodePayload({ n: 1n }, 'json')).toThrow(/can not be encoded as JSON: .*BigInt/);
    expect(() => encodePayload({ a: 1 }, 'text')).toThrow(
      'payload encoding text needs a string, number or boolean payload, got an object',
    );
    expect(() => encodePayload([1], 'bytes')).toThrow(
      'payload encoding bytes needs a bytes or string payload, got an array',
    );
  });
});
