import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BatchError,
  FatalError,
  NotConnectedError,
  SinkStoppedError,
  createMessage,
  type Message,
} from '../../src/sdk/index.js';
import { createFakeContext, type FakeContext } from '../../test/conformance/context.js';
import { sinkConformance } from '../../test/conformance/sink.js';
import { startInfluxDB, type InfluxDBHandle } from '../../test/harness/influxdb.js';
import { influxdbSink } from './index.js';
import { InfluxdbSink } from './sink.js';
import { influxdbSinkConfig } from './spec.js';
import { TcpProxy } from '../../test/harness/tcp-proxy.js';
import { createTestCertificates } from '../../test/harness/certificates.js';

let influx: InfluxDBHandle;
let secured: InfluxDBHandle;
let proxy: TcpProxy;
const DB = 'tests';
const ADMIN = { username: 'admin', password: 'admin-password-for-tests' };

beforeAll(async () => {
  [influx, secured] = await Promise.all([startInfluxDB(), startInfluxDB({ admin: ADMIN })]);
  await influx.query(`CREATE DATABASE ${DB}`);
  proxy = new TcpProxy(influx.port);
  await proxy.start();
});

afterAll(async () => {
  await proxy?.stop();
  await influx?.dispose();
  await secured?.dispose();
});

const sinks: InfluxdbSink[] = [];
afterAll(async () => {
  for (const s of sinks) await s.close();
});

function sink(config: Record<string, unknown>, ctx: FakeContext = createFakeContext()): InfluxdbSink {
  const parsed = influxdbSinkConfig.parse({ url: influx.url, database: DB, ...config });
  const s = influxdbSink.create(parsed, ctx) as InfluxdbSink;
  sinks.push(s);
  return s;
}

const signal = (): AbortSignal => AbortSignal.timeout(15_000);
let n = 0;
const unique = (name: string): string => `${name}_${process.pid}_${++n}`;
/** Distinct, recent times (points beyond the retention policy would be dropped). */
let clock = Date.now() - 60_000;
const msg = (payload: unknown, meta: Record<string, unknown> = {}, time = ++clock): Message =>
  createMessage({ id: `m${clock}`, payload, meta, time });

async function select(q: string): Promise<Record<string, unknown>[]> {
  const res = await influx.query(q, DB);
  return (res.results[0]?.series ?? []).flatMap((s) =>
    s.values.map((row) => ({
      ...s.tags,
      // RFC 3339 as InfluxDB prints it (trailing zeros cut) to milliseconds since the epoch.
      ...Object.fromEntries(s.columns.map((c, i) => [c, c === 'time' ? Date.parse(String(row[i])) : row[i]])),
    })),
  );
}

async function fieldTypes(measurement: string): Promise<Record<string, string>> {
  const res = await influx.query(`SHOW FIELD KEYS FROM "${measurement}"`, DB);
  return Object.fromEntries((res.results[0]?.series?.[0]?.values ?? []).map((v) => [v[0], v[1]]));
}

/** Counts the HTTP requests this process starts to a port, as they start. */
function requestsTo(port: number): { readonly started: number; dispose(): void } {
  const counter = { started: 0, dispose: () => unsubscribe('http.client.request.start', onStart) };
  function onStart(message: unknown): void {
    const { request } = message as { request: ClientRequest };
    if (String(request.getHeader('host')).endsWith(`:${port}`)) counter.started++;
  }
  subscribe('http.client.request.start', onStart);
  return counter;
}

const conformanceMeasurement = unique('conformance');
sinkConformance('influxdb (through a TCP proxy)', () => ({
  create: (ctx) =>
    sink(
      {
        url: `http://127.0.0.1:${proxy.port}`,
        measurement: conformanceMeasurement,
        fields: { v: 'string' },
        healthCheckInterval: '300ms',
      },
      ctx,
    ),
  messages: (values) => values.map((v) => msg({ v })),
  received: async () => (await select(`SELECT v FROM "${conformanceMeasurement}"`)).map((r) => String(r.v)),
  holdAcceptance: async () => proxy.pause(),
  heldAnswers: () => proxy.heldAnswers,
  releaseAcceptance: async () => proxy.resume(),
  stopTarget: () => proxy.stop(),
  startTarget: () => proxy.start(),
}));

describe('influxdb sink', () => {
  it('declares at-least-once and idempotent writes', () => {
    const config = influxdbSinkConfig.parse({ url: 'http://h:8086', database: 'd', measurement: 'm' });
    expect(influxdbSink.delivery(config)).toBe('at-least-once');
    expect(influxdbSink.idempotent?.(config)).toBe(true);
  });

  it('writes points with measurement, tags, declared field types and timestamps, queried back', async () => {
    const m = unique('typed');
    const s = sink({
      measurement: `${m}_{{ topic[1] }}`,
      tags: { device: 'payload.device', site: 'topic[0]', line: 'line-{{ payload.line }}' },
      fields: {
        temperature: 'float',
        rssi: 'integer',
        online: 'boolean',
        firmware: { from: 'meta.fw', type: 'string' },
        count: { from: 'payload.stats.count', type: 'integer' },
      },
      precision: 'ms',
    });
    await s.connect(signal());
    const t0 = Date.now() - 5_000;
    await s.write(
      [
        msg(
          { device: 'd1', line: 'A', temperature: 21, rssi: -87, online: true, stats: { count: 7 } },
          { 'mqtt.topic': 'plant/oven', fw: '1.2' },
          t0,
        ),
        // A numeric text is read as a number; a missing field is left out.
        msg(
          { device: 'd2', line: 'B', temperature: '22.5', rssi: '-90', online: 'false' },
          { 'mqtt.topic': 'plant/oven' },
          t0 + 1,
        ),
      ],
      signal(),
    );
    const rows = await select(`SELECT * FROM "${m}_oven" GROUP BY *`);
    expect(rows).toEqual([
      {
        device: 'd1',
        site: 'plant',
        line: 'line-A',
        time: t0,
        temperature: 21,
        rssi: -87,
        online: true,
        firmware: '1.2',
        count: 7,
      },
      {
        device: 'd2',
        site: 'plant',
        line: 'line-B',
        time: t0 + 1,
        temperature: 22.5,
        rssi: -90,
        online: false,
        firmware: null,
        count: null,
      },
    ]);
    // The first point was a whole number: declared as float, it is stored as a float.
    expect(await fieldTypes(`${m}_oven`)).toEqual({
      count: 'integer',
      firmware: 'string',
      online: 'boolean',
      rssi: 'integer',
      temperature: 'float',
    });
  });

  it('by default writes every finite number of the payload as a float, nested names with dots', async () => {
    const m = unique('defaults');
    const s = sink({ measurement: m });
    await s.connect(signal());
    const t = Date.now() - 3_000;
    await s.write(
      [
        msg({ a: 1, b: { c: 2.5 }, name: 'x', flag: true, list: [1, 2], time: 123 }, {}, t),
        msg(42, {}, t + 1),
      ],
      signal(),
    );
    expect(await fieldTypes(m)).toEqual({ a: 'float', 'b.c': 'float', value: 'float' });
    const rows = await select(`SELECT * FROM "${m}"`);
    expect(rows).toEqual([
      { time: t, a: 1, 'b.c': 2.5, value: null },
      { time: t + 1, a: null, 'b.c': null, value: 42 },
    ]);
  });

  it('stores edge values as they are: exponent floats, quotes, backslashes and line breaks in text, escaped names', async () => {
    const m = unique('edge');
    const s = sink({
      measurement: `${m} x,y`,
      tags: { 'site name': 'payload.site' },
      fields: { 'big value': 'float', small: 'float', text: 'string', n: 'integer' },
    });
    await s.connect(signal());
    const text = 'line 1\nline 2 "quoted" \\back\\slash\\';
    const t = Date.now() - 1000;
    await s.write(
      [msg({ site: 'a=b, c', 'big value': 1e21, small: 1e-7, text, n: -(2 ** 53 - 1) }, {}, t)],
      signal(),
    );
    expect(await select(`SELECT * FROM "${m} x,y" GROUP BY *`)).toEqual([
      { 'site name': 'a=b, c', time: t, 'big value': 1e21, small: 1e-7, text, n: -(2 ** 53 - 1) },
    ]);
  });

  it('takes the time from the payload in the configured unit and writes it in the configured precision', async () => {
    const m = unique('time');
    const s = sink({ measurement: m, timestamp: 'payload.ts', timestampUnit: 's', precision: 's' });
    const iso = sink({ measurement: m, timestamp: 'payload.at', precision: 'us' });
    await s.connect(signal());
    await iso.connect(signal());
    const seconds = Math.floor(Date.now() / 1000) - 100;
    await s.write([msg({ ts: seconds, v: 1 })], signal());
    const at = new Date(Date.now() - 50_000).toISOString();
    await iso.write([msg({ at, v: 2 })], signal());
    const rows = await select(`SELECT v FROM "${m}"`);
    expect(rows).toEqual([
      { time: seconds * 1000, v: 1 },
      { time: Date.parse(at), v: 2 },
    ]);
  });

  it('dead-letters messages that can not become points and writes the rest', async () => {
    const m = unique('bad');
    const s = sink({ measurement: m, fields: { v: 'integer' } });
    await s.connect(signal());
    const batch = [msg({ v: 1 }), msg({ v: 1.5 }), msg({ other: 3 }), msg({ v: 'NaN' }), msg({ v: 4 })];
    const error = await s.write(batch, signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchError);
    const failures = (error as BatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([1, 2, 3]);
    expect(failures.every((f) => f.error instanceof FatalError)).toBe(true);
    expect(failures[0]?.error.message).toMatch(/field "v": expected an integer/);
    expect(failures[1]?.error.message).toMatch(/no field/);
    const defaults = sink({ measurement: m });
    await defaults.connect(signal());
    const nan = await defaults.write([msg({ w: Number.NaN })], signal()).catch((e: unknown) => e);
    expect((nan as BatchError).failures[0]?.error.message).toMatch(/field "w" is NaN/);
    expect((await select(`SELECT v FROM "${m}"`)).map((r) => r.v)).toEqual([1, 4]);
  });

  it('on a partial write with one type-conflicting point, writes the others and fails only that one', async () => {
    const m = unique('conflict');
    // Another writer created the field as an integer.
    const legacy = sink({ measurement: `${m}_legacy`, fields: { v: 'integer' } });
    await legacy.connect(signal());
    await legacy.write([msg({ v: 1 })], signal());
    const s = sink({ measurement: `${m}_{{ payload.kind }}` });
    await s.connect(signal());
    const batch = Array.from({ length: 10 }, (_, i) => msg({ kind: i === 6 ? 'legacy' : 'fresh', v: i }));
    const error = await s.write(batch, signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchError);
    const failures = (error as BatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([6]);
    expect(failures[0]?.error).toBeInstanceOf(FatalError);
    expect(failures[0]?.error.message).toMatch(
      /field type conflict: input field "v" on measurement "[^"]+_legacy" is type float, already exists as type integer/,
    );
    expect((await select(`SELECT v FROM "${m}_fresh"`)).map((r) => r.v)).toEqual([0, 1, 2, 3, 4, 5, 7, 8, 9]);
  });

  it('finds several rejected points by bisection when InfluxDB does not name them all', async () => {
    const m = unique('bisect');
    const seed = sink({ measurement: m, fields: { a: 'integer', b: 'string' } });
    await seed.connect(signal());
    await seed.write([msg({ a: 1, b: 'x' })], signal());
    // Two different conflicts: InfluxDB's message names the first only (dropped=2).
    const s = sink({ measurement: m, fields: { a: 'float', b: 'float', c: 'float' } });
    await s.connect(signal());
    const batch = Array.from({ length: 16 }, (_, i) =>
      msg(i === 3 ? { a: 1 } : i === 12 ? { b: 2 } : { c: i }),
    );
    const error = await s.write(batch, signal()).catch((e: unknown) => e);
    const failures = (error as BatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([3, 12]);
    expect(failures[0]?.error.message).toMatch(/input field "a".*already exists as type integer/);
    expect(failures[1]?.error.message).toMatch(/input field "b".*already exists as type string/);
    expect((await select(`SELECT count(c) FROM "${m}"`))[0]?.count).toBe(14);
  });

  it('splits a request larger than max-body-size and dead-letters only a point that is too large alone', async () => {
    const small = await startInfluxDB({ httpConfig: ['max-body-size = 4000'] });
    try {
      await small.query(`CREATE DATABASE ${DB}`);
      const m = unique('large');
      const s = sink({ url: small.url, measurement: m, fields: { text: 'string' } });
      await s.connect(signal());
      const batch = Array.from({ length: 40 }, (_, i) =>
        msg({ text: i === 17 ? 'x'.repeat(5000) : `row ${i} ${'y'.repeat(150)}` }),
      );
      const error = await s.write(batch, signal()).catch((e: unknown) => e);
      const failures = (error as BatchError).failures;
      expect(failures.map((f) => f.index)).toEqual([17]);
      expect(failures[0]?.error.message).toMatch(/max-body-size/);
      const res = await small.query(`SELECT count(text) FROM "${m}"`, DB);
      expect(res.results[0]?.series?.[0]?.values[0]?.[1]).toBe(39);
    } finally {
      await small.dispose();
    }
  });

  it('creates the database with createDatabase', async () => {
    const database = unique('created');
    const s = sink({ database, measurement: 'm', createDatabase: true });
    await s.connect(signal());
    await s.write([msg({ v: 1 })], signal());
    const res = await influx.query('SELECT v FROM m', database);
    expect(res.results[0]?.series?.[0]?.values.length).toBe(1);
  });

  it('does not connect to a missing database without createDatabase, and says why', async () => {
    const s = sink({ database: unique('missing'), measurement: 'm' });
    await expect(s.connect(signal())).rejects.toThrow(/database not found.*createDatabase: true/);
  });

  it('stops on wrong credentials with a readable error, readiness false, and sends nothing more', async () => {
    await secured.query(`CREATE DATABASE ${DB}`);
    const ctx = createFakeContext();
    const s = sink(
      {
        url: secured.url,
        measurement: 'm',
        username: ADMIN.username,
        password: 'wrong-password',
        healthCheckInterval: '100ms',
      },
      ctx,
    );
    const before = await authFailures(secured);
    // Timers faked (HTTP is not): a health check the stopped sink still scheduled is run below by
    // moving the clock, and its request seen as it starts, instead of waited for.
    const requests = requestsTo(secured.port);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    try {
      await s.connect(signal());
      expect(ctx.state).toBe('stopped');
      const reason = ctx.states.at(-1)?.error?.message ?? '';
      expect(reason).toMatch(
        /refused the credentials \(401: authorization failed\) for user "admin", database "tests"/,
      );
      expect(reason).not.toContain('wrong-password');
      for (let i = 0; i < 5; i++)
        await expect(s.write([msg({ v: i })], signal())).rejects.toBeInstanceOf(SinkStoppedError);
      // Ten health-check intervals.
      await vi.advanceTimersByTimeAsync(1000);
      expect(requests.started).toBe(1);
    } finally {
      vi.useRealTimers();
      requests.dispose();
    }
    expect((await authFailures(secured)) - before).toBe(1);
  });

  it('writes with the right credentials when authentication is on', async () => {
    const s = sink({
      url: secured.url,
      measurement: 'auth_ok',
      username: ADMIN.username,
      password: ADMIN.password,
    });
    await s.connect(signal());
    await s.write([msg({ v: 1 })], signal());
    const res = await secured.query('SELECT v FROM auth_ok', DB);
    expect(res.results[0]?.series?.[0]?.values.length).toBe(1);
  });

  it('writes over TLS trusting the configured CA, and refuses a server it can not verify', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-influx-tls-'));
    createTestCertificates(dir);
    const tls = await startInfluxDB({
      tls: {
        certificate: join(dir, 'server.pem'),
        privateKey: join(dir, 'server.key'),
        ca: join(dir, 'ca.pem'),
      },
    });
    try {
      expect(tls.url).toMatch(/^https:/);
      const s = sink({
        url: tls.url,
        measurement: 'tls',
        createDatabase: true,
        tls: { ca: join(dir, 'ca.pem') },
      });
      await s.connect(signal());
      await s.write([msg({ v: 1 })], signal());
      const res = await tls.query('SELECT v FROM tls', DB);
      expect(res.results[0]?.series?.[0]?.values.length).toBe(1);
      const untrusted = sink({ url: tls.url, measurement: 'tls' });
      const error = await untrusted.connect(signal()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotConnectedError);
      expect((error as Error).message).toMatch(/certificate/i);
    } finally {
      await tls.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails fast with NotConnectedError when nothing listens, and connect() says where', async () => {
    const s = sink({ url: 'http://127.0.0.1:1', measurement: 'm' });
    await expect(s.connect(signal())).rejects.toBeInstanceOf(NotConnectedError);
    await expect(s.connect(signal())).rejects.toThrow(/InfluxDB at http:\/\/127\.0\.0\.1:1\/ is unreachable/);
  });
});

/** InfluxDB's own count of refused authentications (/debug/vars, httpd statistics). */
async function authFailures(handle: InfluxDBHandle): Promise<number> {
  const vars = (await (await fetch(`${handle.url}/debug/vars`)).json()) as Record<
    string,
    { name?: string; values?: Record<string, number> }
  >;
  const httpd = Object.values(vars).find((v) => v?.name === 'httpd');
  return httpd?.values?.authFail ?? 0;
}
