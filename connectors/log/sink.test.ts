import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SinkStoppedError,
  createMessage,
  noopMetrics,
  silentLogger,
  type ComponentContext,
  type Logger,
  type Message,
} from '../../src/sdk/index.js';
import { LogSink, logSink, logSinkConfig, toJsonLine } from './index.js';

const signal = new AbortController().signal;

function context(logger: Logger = silentLogger): ComponentContext {
  return {
    pipeline: 'p',
    component: 'sinks[0]',
    logger,
    setState() {},
    countDropped() {},
    async deadLetter() {},
    metrics: noopMetrics,
  };
}

function capture(): { stream: PassThrough; text: () => string; writes: () => number } {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString()));
  return { stream, text: () => chunks.join(''), writes: () => chunks.length };
}

const message = (id: string, payload: unknown, meta: Record<string, unknown> = {}): Message =>
  createMessage({ id, payload, meta, time: 1_700_000_000_000 });

describe('toJsonLine', () => {
  it('escapes the control characters JSON leaves raw (DEL, C1, bidi overrides), same JSON value', () => {
    const payload = { s: 'a\u001b[2J\u009b31m\u007f\u202eb\u2066c' };
    const line = toJsonLine(payload);
    expect(line).toBe('{"s":"a\\u001b[2J\\u009b31m\\u007f\\u202eb\\u2066c"}');
    expect(JSON.parse(line)).toEqual(payload);
  });

  it('writes any payload as one line without throwing', () => {
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    const shared = { x: 1 };
    const throwing = {
      get boom(): never {
        throw new Error('getter failed');
      },
    };
    expect(toJsonLine(new Uint8Array([104, 105]))).toBe('"aGk="');
    expect(toJsonLine({ b: Buffer.from('hi'), f: new Float32Array([1]) })).toBe(
      '{"b":"aGk=","f":"AACAPw=="}',
    );
    expect(toJsonLine({ n: 10n })).toBe('{"n":"10"}');
    expect(toJsonLine(circular)).toBe('{"a":1,"self":"[Circular]"}');
    expect(toJsonLine({ one: shared, two: shared, c: circular })).toBe(
      '{"one":{"x":1},"two":{"x":1},"c":{"a":1,"self":"[Circular]"}}',
    );
    expect(toJsonLine(undefined)).toBe('null');
    expect(toJsonLine('line\nbreak')).toBe('"line\\nbreak"');
    expect(toJsonLine(throwing)).toBe('{"unserializable":"getter failed"}');
    expect(toJsonLine(Object.create(null))).toBe('{}');
  });
});

describe('log sink', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('writes one JSON line per message, whole messages by default, in one write per batch', async () => {
    const out = capture();
    const sink = new LogSink(logSinkConfig.parse({}), context(), {
      stdout: out.stream,
      stderr: new PassThrough(),
    });
    await sink.connect(signal);
    await sink.write(
      [
        message('a', { t: 1 }, { 'mqtt.topic': 'x/y' }),
        message('b', new Uint8Array([1, 2, 3])),
        message('c', 'text'),
      ],
      signal,
    );
    expect(out.text().split('\n')).toEqual([
      '{"id":"a","time":1700000000000,"meta":{"mqtt.topic":"x/y"},"payload":{"t":1}}',
      '{"id":"b","time":1700000000000,"meta":{},"payload":"AQID","payloadEncoding":"base64"}',
      '{"id":"c","time":1700000000000,"meta":{},"payload":"text"}',
      '',
    ]);
    expect(out.writes()).toBe(1);
    await sink.close();
    await sink.close();
  });

  it('writes payloads only to stderr when asked', async () => {
    const err = capture();
    const sink = new LogSink(logSinkConfig.parse({ output: 'stderr', fields: 'payload' }), context(), {
      stdout: new PassThrough(),
      stderr: err.stream,
    });
    await sink.connect(signal);
    await sink.write([message('a', { t: 1 }), message('b', null)], signal);
    expect(err.text()).toBe('{"t":1}\nnull\n');
  });

  it('appends to a file, across reconnections', async () => {
    dir = await mkdtemp(join(tmpdir(), 'log-sink-'));
    const path = join(dir, 'out.jsonl');
    for (const id of ['1', '2']) {
      const sink = logSink.create(
        logSinkConfig.parse({ output: path, fields: 'payload', fsync: true }),
        context(),
      );
      await sink.connect(signal);
      await sink.write([message(id, { id })], signal);
      await sink.close();
    }
    expect(await readFile(path, 'utf8')).toBe('{"id":"1"}\n{"id":"2"}\n');
  });

  it('fails to connect, readably, when the file can not be opened', async () => {
    const sink = logSink.create(logSinkConfig.parse({ output: '/nonexistent-dir/x.jsonl' }), context());
    await expect(sink.connect(signal)).rejects.toThrow(
      /cannot open \/nonexistent-dir\/x.jsonl for appending: ENOENT/,
    );
  });

  it('stops, rather than crashing, when its stream fails', async () => {
    const broken = new Writable({
      write(_chunk, _enc, callback) {
        callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const sink = new LogSink(logSinkConfig.parse({}), context(), {
      stdout: broken,
      stderr: new PassThrough(),
    });
    await sink.connect(signal);
    await expect(sink.write([message('a', 1)], signal)).rejects.toBeInstanceOf(SinkStoppedError);
    await expect(sink.write([message('b', 1)], signal)).rejects.toThrow(
      /stdout is not writable: write EPIPE/,
    );
    await sink.close();
  });

  it('logs through the service logger at the chosen level', async () => {
    const entries: [object | string, string | undefined][] = [];
    const logger: Logger = { ...silentLogger, warn: (o, m) => void entries.push([o, m]) };
    const sink = logSink.create(logSinkConfig.parse({ output: 'logger', level: 'warn' }), context(logger));
    await sink.connect(signal);
    await sink.write([message('a', Buffer.from('hi'), { k: 1 })], signal);
    expect(entries).toEqual([
      [
        {
          message: {
            id: 'a',
            time: 1_700_000_000_000,
            meta: { k: 1 },
            payload: 'aGk=',
            payloadEncoding: 'base64',
          },
        },
        'message',
      ],
    ]);
  });

  it('states its delivery guarantee per output', () => {
    expect(logSink.delivery(logSinkConfig.parse({}))).toBe('at-least-once');
    expect(logSink.delivery(logSinkConfig.parse({ output: 'logger' }))).toBe('best-effort');
    expect(logSink.idempotent?.(logSinkConfig.parse({}))).toBe(false);
    for (const example of logSink.examples ?? []) expect(logSinkConfig.safeParse(example).success).toBe(true);
  });
});
