import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BatchError,
  FatalError,
  NotConnectedError,
  RetryableError,
  SinkStoppedError,
  createMessage,
  type Message,
} from '../../src/sdk/index.js';
import { createFakeContext, type FakeContext } from '../../test/conformance/context.js';
import { sinkConformance } from '../../test/conformance/sink.js';
import { startInfluxStandin, type InfluxStandin } from '../../test/harness/influxdb-standin.js';
import { TcpProxy } from '../../test/harness/tcp-proxy.js';
import { influxdbSink } from './index.js';
import type { InfluxdbSink } from './sink.js';
import { influxdbSinkConfig } from './spec.js';

/*
 * InfluxDB 2.x (/api/v2/write) and 3 (/api/v3/write_lp) through their native APIs, against the
 * local stand-ins (test/harness/influxdb-standin.ts), which answer as InfluxData documents.
 */

const TOKEN = 'token-for-tests';
let v2: InfluxStandin;
let v3: InfluxStandin;
let v3open: InfluxStandin;
let v2proxy: TcpProxy;
let v3proxy: TcpProxy;

beforeAll(async () => {
  [v2, v3, v3open] = await Promise.all([
    startInfluxStandin({ version: 2, token: TOKEN, orgs: { plant: { archive: 0, recent: 3600 } } }),
    startInfluxStandin({ version: 3, token: TOKEN, retention: { recent: 3600 } }),
    startInfluxStandin({ version: 3 }),
  ]);
  v2proxy = new TcpProxy(Number(new URL(v2.url).port));
  v3proxy = new TcpProxy(Number(new URL(v3.url).port));
  await Promise.all([v2proxy.start(), v3proxy.start()]);
});
afterAll(async () => {
  await Promise.all([v2proxy?.stop(), v3proxy?.stop()]);
});

const sinks: InfluxdbSink[] = [];
afterAll(async () => {
  for (const s of sinks) await s.close();
  await Promise.all([v2?.close(), v3?.close(), v3open?.close()]);
});

function sink(config: Record<string, unknown>, ctx: FakeContext = createFakeContext()): InfluxdbSink {
  const s = influxdbSink.create(influxdbSinkConfig.parse(config), ctx) as InfluxdbSink;
  sinks.push(s);
  return s;
}
const v2sink = (config: Record<string, unknown>, ctx?: FakeContext) =>
  sink({ url: v2.url, version: 2, org: 'plant', bucket: 'archive', token: TOKEN, ...config }, ctx);
const v3sink = (config: Record<string, unknown>, ctx?: FakeContext) =>
  sink({ url: v3.url, version: 3, database: 'plant', token: TOKEN, ...config }, ctx);

const signal = (): AbortSignal => AbortSignal.timeout(15_000);
let clock = Date.now() - 60_000;
const msg = (payload: unknown, time = ++clock): Message => createMessage({ id: `m${time}`, payload, time });
let n = 0;
const unique = (name: string): string => `${name}_${++n}`;

async function failuresOf(promise: Promise<void>): Promise<{ index: number; message: string }[]> {
  try {
    await promise;
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(BatchError);
    return (error as BatchError).failures.map((f) => {
      expect(f.error).toBeInstanceOf(FatalError);
      return { index: f.index, message: f.error.message };
    });
  }
}

async function metric(ctx: FakeContext, name: string, labels: Record<string, string> = {}): Promise<number> {
  const values = (await ctx.registry.getSingleMetric(name)?.get())?.values ?? [];
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((sum, v) => sum + v.value, 0);
}
const written = (ctx: FakeContext): Promise<number> =>
  metric(ctx, 'passerelle_influxdb_points_written_total');

/** The sink contract (ack once, redelivery, outage, held answers) on the native APIs of 2.x and 3. */
for (const version of [2, 3] as const) {
  const measurement = `conformance_v${version}`;
  const standin = (): InfluxStandin => (version === 2 ? v2 : v3);
  const proxy = (): TcpProxy => (version === 2 ? v2proxy : v3proxy);
  sinkConformance(`influxdb version ${version} (stand-in, through a TCP proxy)`, () => ({
    create: (ctx) =>
      (version === 2 ? v2sink : v3sink)(
        {
          url: `http://127.0.0.1:${proxy().port}`,
          measurement,
          fields: { v: 'string' },
          healthCheckInterval: '300ms',
        },
        ctx,
      ),
    messages: (values) => values.map((v) => msg({ v })),
    received: () =>
      Promise.resolve(
        standin()
          .points(version === 2 ? 'plant/archive' : 'plant')
          .filter((p) => p.measurement === measurement)
          .map((p) => String(p.fields.v?.value)),
      ),
    holdAcceptance: () => Promise.resolve(proxy().pause()),
    heldAnswers: () => proxy().heldAnswers,
    releaseAcceptance: () => Promise.resolve(proxy().resume()),
    stopTarget: () => proxy().stop(),
    startTarget: () => proxy().start(),
  }));
}

describe('config: one API per version', () => {
  const issues = (c: Record<string, unknown>): string[] => {
    const r = influxdbSinkConfig.safeParse({ url: 'http://h:8086', measurement: 'm', ...c });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('asks for what each version needs and refuses the settings of another version', () => {
    expect(issues({ database: 'd' })).toEqual([]);
    expect(issues({ version: 2, org: 'o', bucket: 'b', token: 't' })).toEqual([]);
    expect(issues({ version: 3, database: 'd', token: 't' })).toEqual([]);
    expect(issues({ version: 3, database: 'd' })).toEqual([]);
    expect(issues({ version: 2, org: 'o', bucket: 'b' })).toEqual([
      'token: token is required with version: 2 (org, bucket, token)',
    ]);
    expect(issues({ bucket: 'b', org: 'o', token: 't' })).toEqual([
      'org: org is an InfluxDB 2.x setting but version is 1 (the default): set version: 2, or use database, retentionPolicy, username, password',
      'bucket: bucket is an InfluxDB 2.x setting but version is 1 (the default): set version: 2, or use database, retentionPolicy, username, password',
      'token: token is an InfluxDB 2.x or 3 setting but version is 1 (the default): set version: 2 or 3, or use database, retentionPolicy, username, password',
      'database: database is required with version: 1 (database, retentionPolicy, username, password)',
    ]);
    expect(
      issues({ version: 2, org: 'o', bucket: 'b', token: 't', database: 'd', createDatabase: true }),
    ).toEqual([
      'database: database is an InfluxDB 1.x or 3 setting but version is 2: set version: 1 or 3, or use org, bucket, token',
      'createDatabase: createDatabase is an InfluxDB 1.x setting but version is 2: set version: 1, or use org, bucket, token',
    ]);
    expect(issues({ version: 3, database: 'd', username: 'u', password: 'p' })).toEqual([
      'username: username is an InfluxDB 1.x setting but version is 3: set version: 1, or use database, token',
      'password: password is an InfluxDB 1.x setting but version is 3: set version: 1, or use database, token',
    ]);
    expect(issues({ database: 'd', noSync: true })).toEqual([
      'noSync: noSync is an InfluxDB 3 setting but version is 1 (the default): set version: 3, or use database, retentionPolicy, username, password',
    ]);
    expect(issues({ version: 4, database: 'd' })).toHaveLength(1);
  });
});

describe('InfluxDB 2.x: POST /api/v2/write', () => {
  it('writes with org, bucket, Authorization: Token and the precision, stored as sent', async () => {
    const m = unique('v2');
    const ctx = createFakeContext();
    const s = v2sink(
      {
        measurement: m,
        tags: { device: 'payload.device' },
        fields: { t: 'float', n: 'integer', s: 'string' },
        precision: 'us',
      },
      ctx,
    );
    await s.connect(signal());
    const t0 = Date.now() - 1000;
    await s.write(
      [msg({ device: 'a b', t: 1.5, n: 7, s: 'x "y" \\' }, t0), msg({ device: 'c,d', t: 2 }, t0 + 1)],
      signal(),
    );
    const points = v2.points('plant/archive').filter((p) => p.measurement === m);
    expect(points).toEqual([
      {
        measurement: m,
        tags: { device: 'a b' },
        fields: {
          t: { type: 'float', value: 1.5 },
          n: { type: 'integer', value: 7n },
          s: { type: 'string', value: 'x "y" \\' },
        },
        time: BigInt(t0) * 1_000_000n,
      },
      {
        measurement: m,
        tags: { device: 'c,d' },
        fields: { t: { type: 'float', value: 2 } },
        time: BigInt(t0 + 1) * 1_000_000n,
      },
    ]);
    const last = v2.requests.at(-1)!;
    expect(last).toEqual({
      path: '/api/v2/write',
      query: { org: 'plant', bucket: 'archive', precision: 'us' },
      status: 204,
    });
    expect(await written(ctx)).toBe(2);
  });

  it('stops on a refused token, naming the bucket, and sends nothing more', async () => {
    const ctx = createFakeContext();
    const s = v2sink({ measurement: 'm', token: 'wrong' }, ctx);
    await s.connect(signal());
    expect(ctx.state).toBe('stopped');
    const before = v2.requests.length;
    const error = await s.write([msg({ v: 1 })], signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SinkStoppedError);
    expect((error as Error).message).toMatch(
      /refused the credentials \(401: unauthorized access\) for the token, bucket "archive" of org "plant"/,
    );
    expect((error as Error).message).not.toContain('wrong');
    expect(v2.requests.length).toBe(before);
  });

  it('does not connect to a missing bucket, and says which', async () => {
    const s = v2sink({ measurement: 'm', bucket: 'nope' });
    const error = await s.connect(signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotConnectedError);
    expect((error as Error).message).toMatch(
      /bucket "nope" not found \(bucket "nope" of org "plant": create it\)/,
    );
  });

  it('on a 422 partial write (type conflict) dead-letters only the refused point; the others are stored', async () => {
    const m = unique('v2conflict');
    const ctx = createFakeContext();
    const s = v2sink(
      { measurement: m, fields: { v: { from: 'payload.v', type: 'string' }, w: 'float' } },
      ctx,
    );
    const first = v2sink({ measurement: m, fields: { v: 'float' } });
    await Promise.all([s.connect(signal()), first.connect(signal())]);
    await first.write([msg({ v: 1 })], signal());
    const batch = [msg({ w: 1 }), msg({ v: 'text', w: 2 }), msg({ w: 3 }), msg({ w: 4 })];
    const failures = await failuresOf(s.write(batch, signal()));
    expect(failures).toEqual([
      {
        index: 1,
        message: expect.stringMatching(
          /^InfluxDB refused the point: failure writing points to database: partial write: field type conflict: input field "v" on measurement "v2conflict_\d+" is type string, already exists as type float dropped=1$/,
        ) as string,
      },
    ]);
    const stored = v2.points('plant/archive').filter((p) => p.measurement === m);
    expect(stored.map((p) => p.fields.w?.value ?? p.fields.v?.value)).toEqual([1, 1, 3, 4]);
    expect(await written(ctx)).toBe(3);
    expect(await metric(ctx, 'passerelle_influxdb_points_rejected_total', { cause: 'type-conflict' })).toBe(
      1,
    );
  });

  it('on a 400 (a malformed line refuses the whole request) dead-letters the named lines and writes the rest', async () => {
    const m = unique('v2reserved');
    const ctx = createFakeContext();
    // `_field` is a tag key InfluxDB 2.x reserves: only the messages that carry it are refused.
    const s = v2sink({ measurement: m, tags: { _field: 'payload.kind' } }, ctx);
    await s.connect(signal());
    const batch = [
      msg({ v: 0 }),
      msg({ v: 1, kind: 'x' }),
      msg({ v: 2 }),
      msg({ v: 3, kind: 'y' }),
      msg({ v: 4 }),
    ];
    const failures = await failuresOf(s.write(batch, signal()));
    expect(failures.map((f) => f.index)).toEqual([1, 3]);
    expect(failures[0]!.message).toMatch(/unable to parse the point: cannot use reserved tag key "_field"/);
    const stored = v2.points('plant/archive').filter((p) => p.measurement === m);
    expect(stored.map((p) => p.fields.v?.value)).toEqual([0, 2, 4]);
    expect(await written(ctx)).toBe(3);
  });

  it('dead-letters points outside the bucket retention (422) and stores the recent ones', async () => {
    const m = unique('v2retention');
    const ctx = createFakeContext();
    const s = v2sink({ measurement: m, bucket: 'recent', timestamp: 'payload.ts' }, ctx);
    await s.connect(signal());
    const now = Date.now();
    const batch = [
      msg({ ts: now - 1000, v: 1 }),
      msg({ ts: now - 7_200_000, v: 2 }),
      msg({ ts: now - 2000, v: 3 }),
      msg({ ts: now - 9_000_000, v: 4 }),
    ];
    const failures = await failuresOf(s.write(batch, signal()));
    expect(failures.map((f) => f.index)).toEqual([1, 3]);
    expect(failures[0]!.message).toMatch(/partial write: dropped 1 points outside retention policy/);
    const stored = v2.points('plant/recent').filter((p) => p.measurement === m);
    // `ts` is the point time, not also a field.
    expect(stored.map((p) => Object.keys(p.fields))).toEqual([['v'], ['v']]);
    expect(stored.map((p) => p.fields.v?.value)).toEqual([3, 1]);
    expect(await written(ctx)).toBe(2);
    expect(await metric(ctx, 'passerelle_influxdb_points_rejected_total', { cause: 'retention' })).toBe(2);
  });

  it('retries a 429 and a 503 after their Retry-After, writing nothing meanwhile', async () => {
    const m = unique('v2busy');
    const ctx = createFakeContext();
    const s = v2sink({ measurement: m }, ctx);
    await s.connect(signal());
    v2.failNext(429, 1, '7');
    const busy = await s.write([msg({ v: 1 })], signal()).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(RetryableError);
    expect((busy as RetryableError).retryAfterMs).toBe(7000);
    expect((busy as Error).message).toMatch(/answered 429: too many requests/);
    v2.failNext(503, 1, new Date(Date.now() + 30_000).toUTCString());
    const down = await s.write([msg({ v: 1 })], signal()).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(RetryableError);
    expect((down as RetryableError).retryAfterMs).toBeGreaterThan(25_000);
    expect(await written(ctx)).toBe(0);
    await s.write([msg({ v: 1 })], signal());
    expect(v2.points('plant/archive').filter((p) => p.measurement === m)).toHaveLength(1);
    expect(await written(ctx)).toBe(1);
  });
});

describe('InfluxDB 3: POST /api/v3/write_lp', () => {
  it('writes with db, Bearer token, precision, accept_partial and no_sync, stored as sent', async () => {
    const m = unique('v3');
    const ctx = createFakeContext();
    const s = v3sink({ measurement: m, tags: { path: 'payload.path' }, noSync: true, precision: 'ns' }, ctx);
    await s.connect(signal());
    const t0 = Date.now() - 1000;
    // InfluxDB 3 reads `\\` as one backslash: backslashes inside names are carried.
    await s.write([msg({ path: 'C:\\data\\x,y', v: 1 }, t0)], signal());
    expect(v3.points('plant').filter((p) => p.measurement === m)).toEqual([
      {
        measurement: m,
        tags: { path: 'C:\\data\\x,y' },
        fields: { v: { type: 'float', value: 1 } },
        time: BigInt(t0) * 1_000_000n,
      },
    ]);
    expect(v3.requests.at(-1)).toEqual({
      path: '/api/v3/write_lp',
      query: { db: 'plant', precision: 'nanosecond', accept_partial: 'true', no_sync: 'true' },
      status: 204,
    });
    expect(await written(ctx)).toBe(1);
  });

  it('works without a token against a server without authentication', async () => {
    const s = sink({ url: v3open.url, version: 3, database: 'open', measurement: 'm' });
    await s.connect(signal());
    await s.write([msg({ v: 1 })], signal());
    expect(v3open.points('open')).toHaveLength(1);
  });

  it('stops on a refused token', async () => {
    const ctx = createFakeContext();
    const s = v3sink({ measurement: 'm', token: 'wrong' }, ctx);
    await s.connect(signal());
    expect(ctx.state).toBe('stopped');
    const error = await s.write([msg({ v: 1 })], signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SinkStoppedError);
    expect((error as Error).message).toMatch(
      /refused the credentials \(401: HTTP 401\) for the token, database "plant"/,
    );
  });

  it('on a partial write (400 listing the refused lines) dead-letters exactly those; the rest is stored once', async () => {
    const m = unique('v3conflict');
    const ctx = createFakeContext();
    const s = v3sink(
      { measurement: m, fields: { v: { from: 'payload.v', type: 'string' }, w: 'float' } },
      ctx,
    );
    const first = v3sink({ measurement: m, fields: { v: 'float' } });
    await Promise.all([s.connect(signal()), first.connect(signal())]);
    await first.write([msg({ v: 1 })], signal());
    const before = v3.requests.length;
    const batch = [msg({ w: 1 }), msg({ v: 'a', w: 2 }), msg({ w: 3 }), msg({ v: 'b' })];
    const failures = await failuresOf(s.write(batch, signal()));
    expect(failures).toEqual([
      {
        index: 1,
        message:
          "InfluxDB refused the point: invalid column type for column 'v', expected iox::column_type::field::float, got iox::column_type::field::string (partial write of line protocol occurred)",
      },
      { index: 3, message: expect.stringContaining("invalid column type for column 'v'") as string },
    ]);
    // One request: the answer named the refused lines and said the others were stored.
    expect(v3.requests.length - before).toBe(1);
    expect(
      v3
        .points('plant')
        .filter((p) => p.measurement === m)
        .map((p) => p.fields.w?.value ?? p.fields.v?.value),
    ).toEqual([1, 1, 3]);
    expect(await written(ctx)).toBe(2);
  });

  it('with acceptPartial: false, dead-letters the refused line and writes the others again', async () => {
    const m = unique('v3strict');
    const ctx = createFakeContext();
    const s = v3sink(
      { measurement: m, database: 'recent', timestamp: 'payload.ts', acceptPartial: false },
      ctx,
    );
    await s.connect(signal());
    const now = Date.now();
    const batch = [
      msg({ ts: now - 1000, v: 1 }),
      msg({ ts: now - 7_200_000, v: 2 }),
      msg({ ts: now - 500, v: 3 }),
    ];
    const failures = await failuresOf(s.write(batch, signal()));
    expect(failures).toEqual([
      {
        index: 1,
        message:
          'InfluxDB refused the point: write contains a point outside the database retention period (parsing failed for write_lp endpoint)',
      },
    ]);
    expect(v3.requests.at(-1)?.query.accept_partial).toBe('false');
    expect(
      v3
        .points('recent')
        .filter((p) => p.measurement === m)
        .map((p) => p.fields.v?.value),
    ).toEqual([1, 3]);
    expect(await written(ctx)).toBe(2);
  });

  it('honours Retry-After on a 503', async () => {
    const s = v3sink({ measurement: unique('v3busy') });
    await s.connect(signal());
    v3.failNext(503, 1, '3');
    const error = await s.write([msg({ v: 1 })], signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as RetryableError).retryAfterMs).toBe(3000);
  });

  it('refuses what InfluxDB 3 cannot read: a final backslash, a tab, a leading "#"', async () => {
    const m = unique('v3refused');
    const s = v3sink({ measurement: '{{ payload.m }}', tags: { t: 'payload.t' } });
    await s.connect(signal());
    const failures = await failuresOf(
      s.write(
        [
          msg({ m, t: 'ok', v: 1 }),
          msg({ m, t: 'a\\', v: 2 }),
          msg({ m, t: 'a\tb', v: 3 }),
          msg({ m: `#${m}`, v: 4 }),
        ],
        signal(),
      ),
    );
    expect(failures).toEqual([
      {
        index: 1,
        message:
          'not a valid point: tag "t": value "a\\\\": the tag value ends with a backslash, which InfluxDB 3 refuses even when escaped',
      },
      {
        index: 2,
        message:
          'not a valid point: tag "t": value "a\\tb": the tag value contains a tab, which InfluxDB 3 reads as a separator',
      },
      {
        index: 3,
        message: expect.stringMatching(
          /measurement "#v3refused_\d+": the measurement starts with "#": InfluxDB reads such a line as a comment/,
        ) as string,
      },
    ]);
    expect(v3.points('plant').filter((p) => p.measurement === m)).toHaveLength(1);
  });
});
