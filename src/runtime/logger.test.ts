import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { clearSecretsForTests, registerSecret } from '../sdk/index.js';
import { createLogger, resolveLogFormat } from './logger.js';

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

function captureWith(options: Parameters<typeof createLogger>[0]) {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'debug', stream, ...options }) };
}

describe('timestamps', () => {
  // On Node 20, V8's Date#toISOString (and toUTCString, toString) looks up the local time zone's
  // display name, which pages in ~1 MB of ICU data and code of the node binary that an idle
  // relay needs for nothing else (docs/operations.md, "Footprint").
  it('stamps each line with the ISO time without Date#toISOString', () => {
    const toISOString = vi.spyOn(Date.prototype, 'toISOString');
    try {
      const before = Date.now();
      const { lines, logger } = capture();
      logger.info('hello');
      const time = (JSON.parse(lines[0] ?? '{}') as { time: string }).time;
      expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Date.parse(time)).toBeGreaterThanOrEqual(before);
      expect(Date.parse(time)).toBeLessThanOrEqual(Date.now());
      expect(toISOString).not.toHaveBeenCalled();
    } finally {
      toISOString.mockRestore();
    }
  });
});

describe('log formats', () => {
  it('pretty: one short line per event, scope apart, fields as key=value, no JSON, no colour when off', () => {
    const { lines, logger } = captureWith({ format: 'pretty', color: false });
    const child = logger.child({ pipeline: 'relay', component: 'mqtt', type: 'mqtt' });
    child.info({ state: 'connected' }, 'connection state changed');
    child.warn({ err: new Error('connect ECONNREFUSED 127.0.0.1:1883'), attempt: 3 }, 'sink write failed');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d INFO {2}relay\/mqtt connection state changed state=connected$/);
    expect(lines[1]).toMatch(
      /^\d\d:\d\d:\d\d WARN {2}relay\/mqtt sink write failed err="connect ECONNREFUSED 127\.0\.0\.1:1883" attempt=3$/,
    );
  });

  it('pretty: colours the level, and escapes control characters from message data', () => {
    const { lines, logger } = captureWith({ format: 'pretty', color: true });
    logger.warn({ topic: 'a\u001b]0;pwned\u0007' }, 'odd \u001b[2J');
    expect(lines[0]).toContain('\u001b[33mWARN ');
    // eslint-disable-next-line no-control-regex -- looking for raw escape sequences
    expect(lines[0]!.replace(/\u001b\[\d+m/g, '')).not.toMatch(/[\u0000-\u001f]/);
    expect(lines[0]).toContain('\\u001b]0;pwned\\u0007');
  });

  it('pretty: masks secrets as the JSON format does', () => {
    registerSecret(QUOTED);
    const { lines, logger } = captureWith({ format: 'pretty', color: false });
    logger.child({ target: `user:${QUOTED}` }).error({ err: new Error(`auth ${QUOTED}`) }, `m ${QUOTED}`);
    expect(lines.join('\n')).not.toContain('word1');
  });

  it('chooses pretty on a terminal and JSON otherwise; --log-format and PASSERELLE_LOG_FORMAT win', () => {
    expect(resolveLogFormat(undefined, {}, true)).toBe('pretty');
    expect(resolveLogFormat(undefined, {}, false)).toBe('json');
    expect(resolveLogFormat('json', { PASSERELLE_LOG_FORMAT: 'pretty' }, true)).toBe('json');
    expect(resolveLogFormat(undefined, { PASSERELLE_LOG_FORMAT: 'pretty' }, false)).toBe('pretty');
    expect(() => resolveLogFormat('xml', {}, true)).toThrow('log format: expected json or pretty, got "xml"');
  });
});

describe('repeated warnings', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('prints the first at once and then one line with the count per window, not a wall', () => {
    const { lines, logger } = captureWith({ format: 'json', repeatWindowMs: 20_000 });
    const log = logger.child({ pipeline: 'p' });
    for (let i = 0; i < 38; i++) log.warn({ component: 'mqtt', attempt: i }, 'sink write failed, retrying');
    // Another component's warning is its own key; info lines are never held back.
    log.warn({ component: 'influxdb' }, 'sink write failed, retrying');
    for (let i = 0; i < 3; i++) log.info({ state: 'connecting' }, 'connection state changed');
    expect(lines).toHaveLength(5);
    vi.advanceTimersByTime(20_000);
    const summary = JSON.parse(lines[5]!) as Record<string, unknown>;
    expect(summary).toMatchObject({
      level: 'warn',
      pipeline: 'p',
      component: 'mqtt',
      attempt: 37,
      msg: 'sink write failed, retrying (x37 in 20 s)',
    });
    expect(lines).toHaveLength(6);
    // Still failing: one more line per window; once quiet, the key is forgotten.
    log.warn({ component: 'mqtt' }, 'sink write failed, retrying');
    vi.advanceTimersByTime(20_000);
    expect(lines).toHaveLength(7);
    expect(lines[6]).toContain('(x1 in 20 s)');
    vi.advanceTimersByTime(20_000);
    log.warn({ component: 'mqtt' }, 'sink write failed, retrying');
    expect(lines).toHaveLength(8);
    expect(lines[7]).not.toContain('(x');
  });
});
