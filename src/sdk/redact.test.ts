import { afterEach, describe, expect, it } from 'vitest';
import { clearSecretsForTests, redact, redactUrl, redactValue, registerSecret } from './redact.js';

afterEach(() => clearSecretsForTests());

// A password with a quote and a backslash: JSON writes it as pa\"ss\\word1.
const QUOTED = 'pa"ss\\word1';

describe('redact', () => {
  it('masks a secret in its JSON-escaped form, once and twice escaped', () => {
    registerSecret(QUOTED);
    const once = JSON.stringify({ err: `login with ${QUOTED} refused` });
    const twice = JSON.stringify({ line: once });
    expect(once).toContain('pa\\"ss\\\\word1');
    expect(redact(once)).not.toContain('ss\\\\word1');
    expect(redact(once)).toBe('{"err":"login with *** refused"}');
    expect(redact(twice)).not.toContain('word1');
    expect(redact(`login with ${QUOTED} refused`)).toBe('login with *** refused');
  });

  it('masks a secret in its percent-encoded form (as a URL writes it)', () => {
    const secret = 'p@ss/w rd:1';
    registerSecret(secret);
    const url = new URL('redis://h:6379');
    url.password = secret;
    expect(redact(`connect to ${url.toString()} failed`)).not.toContain('ss');
    expect(redact(`x=${encodeURIComponent(secret)}`)).toBe('x=***');
  });

  it('masks the password of a URL with no user name, whatever its origin', () => {
    expect(redact('cannot reach redis://:hunter2@cache:6379/0')).toBe(
      'cannot reach redis://:***@cache:6379/0',
    );
    expect(redact('mqtt://user:pw@broker')).toBe('mqtt://user:***@broker');
    expect(redactUrl('redis://:hunter2@cache:6379')).toBe('redis://cache:6379');
  });

  it('masks secrets under 4 characters where they stand alone, not inside other words', () => {
    registerSecret('pw1');
    registerSecret('x');
    expect(redact('password pw1 refused')).toBe('password *** refused');
    expect(redact('"pw1"')).toBe('"***"');
    expect(redact('pw12 and apw1 stay')).toBe('pw12 and apw1 stay');
    expect(redact('x')).toBe('***');
    expect(redact('max=1')).toBe('max=1');
  });

  it('never registers the empty string', () => {
    registerSecret('');
    expect(redact('text')).toBe('text');
  });
});

describe('redactValue (before serialising)', () => {
  it('masks strings anywhere in objects, arrays, keys and errors, without changing the input', () => {
    registerSecret(QUOTED);
    registerSecret('ab');
    const error = new Error(`auth failed for ${QUOTED}`);
    const input = {
      msg: `x ${QUOTED}`,
      nested: { list: ['ab', 'abc', { deep: `"${QUOTED}"` }], [`key ${QUOTED}`]: 1 },
      err: error,
      n: 5,
      url: 'redis://:pw@h',
    };
    const out = redactValue(input) as Record<string, unknown>;
    const text = JSON.stringify(out);
    expect(text).not.toContain('word1');
    expect(text).not.toContain('"ab"');
    expect(text).toContain('"abc"');
    expect(text).toContain('redis://:***@h');
    expect(out.err).toMatchObject({ type: 'Error', message: 'auth failed for ***' });
    expect((out.err as { stack: string }).stack).not.toContain('word1');
    expect(out.n).toBe(5);
    expect(input.msg).toBe(`x ${QUOTED}`);
  });

  it('survives cycles and deep nesting', () => {
    const a: Record<string, unknown> = { s: 'v' };
    a.self = a;
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 10_000; i++) deep = (deep.next = {}) as Record<string, unknown>;
    expect(() => JSON.stringify(redactValue(a))).not.toThrow();
    expect(() => JSON.stringify(redactValue(root))).not.toThrow();
  });
});
