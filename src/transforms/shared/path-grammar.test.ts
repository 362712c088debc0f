import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGetter } from '../../sdk/index.js';
import { parseFieldPath } from './field-paths.js';

/**
 * `fields:` takes a path in every transform: redact, pseudonymize, generalize and unit-convert parse
 * it with parseFieldPath, deadband and aggregate with compileGetter (the template syntax). One
 * grammar: a string is accepted by both or refused by both, except the wildcards, which every
 * single-value reader refuses by name (a getter returns one value).
 */
const verdict = (parse: () => unknown): 'ok' | string => {
  try {
    parse();
    return 'ok';
  } catch (error) {
    return (error as Error).message;
  }
};
const WILDCARD = /\[\*\]|(^|\.)\*/;

function expectSameVerdict(path: string): void {
  const field = verdict(() => parseFieldPath(path));
  const getter = verdict(() => compileGetter(path));
  if (field === 'ok' && WILDCARD.test(path)) {
    expect(getter, path).toMatch(/wildcard/);
    return;
  }
  expect(getter === 'ok', `${path}: field path ${field}, getter ${getter}`).toBe(field === 'ok');
}

describe('one path grammar for fields', () => {
  it.each([
    'payload',
    'payload.device.id',
    'payload["serial.no"]',
    'payload["a\\"b"]',
    "payload['x y']",
    'payload.readings[0].value',
    'payload.devices[*].id',
    'payload.*.owner',
    'payload..a',
    '.payload.a',
    'payload.a.',
    'payload a',
    'payload[x]',
    'payload.a-b',
    'payload.$x',
    'payload[0][1]',
    'payload.a["b"].c',
    'payloadx.a',
  ])('%s: accepted or refused alike', (path) => expectSameVerdict(path));

  it('any string of path tokens: accepted or refused alike', () => {
    const token = fc.constantFrom(
      'payload',
      'a',
      'b1',
      '.',
      '[0]',
      '[12]',
      '[*]',
      '*',
      '["k.x"]',
      "['k']",
      '[',
      ']',
      ' ',
      '"',
    );
    fc.assert(
      fc.property(fc.array(token, { minLength: 1, maxLength: 8 }), (parts) => {
        fc.pre(parts[0] === 'payload');
        expectSameVerdict(parts.join(''));
      }),
      { numRuns: 2000 },
    );
  });

  it('the wildcard refusal says why', () => {
    expect(() => compileGetter('payload.devices[*].id')).toThrow(/wildcard/);
  });
});
