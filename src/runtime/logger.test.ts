import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { clearSecretsForTests, registerSecret } from '../sdk/index.js';
import { createLogger } from './logger.js';

afterEach(() => clearSecretsForTests());

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'debug', stream }) };
}

// JSON writes this password as pa\"ss\\word1: masking the serialised line would miss it.
const QUOTED = 'pa"ss\\word1';

describe('createLogger', () => {
  it('masks secrets in fields, nested values, errors, bindings and messages before serialising', () => {
    registerSecret(QUOTED);
    registerSecret('k9');
    const { lines, logger } = capture();
    const child = logger.child({ pipeline: 'p', target: `user:${QUOTED}` });
    child.info({ detail: { list: [`with ${QUOTED}`] }, url: 'redis://:hunter2@cache:6379' }, `msg ${QUOTED}`);
    child.error({ err: new Error(`auth failed: ${QUOTED}`) }, 'connect failed');
    child.warn({ err: new Error('token k9 refused') } as object);
    child.error(new Error(`bare ${QUOTED}`) as unknown as object);
    child.info({ key: 'k9', other: 'k99' }, 'short');
    const text = lines.join('\n');
    expect(lines).toHaveLength(5);
    expect(text).not.toContain('word1');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('"k9"');
    expect(text).not.toContain('token k9');
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed[0]).toMatchObject({
      msg: 'msg ***',
      target: 'user:***',
      detail: { list: ['with ***'] },
      url: 'redis://:***@cache:6379',
    });
    expect(parsed[1]).toMatchObject({ msg: 'connect failed', err: { message: 'auth failed: ***' } });
    expect(parsed[2]).toMatchObject({ msg: 'token *** refused' });
    expect(parsed[3]).toMatchObject({ msg: 'bare ***' });
    expect(parsed[4]).toMatchObject({ key: '***', other: 'k99' });
  });
});
