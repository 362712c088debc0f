import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FatalError,
  NotConnectedError,
  RetryableError,
  loadComponent,
  type Message,
  type Run,
  type RunReader,
} from '../../src/sdk/index.js';
import { createFakeContext, type FakeContext } from '../../test/conformance/context.js';
import { runReaderConformance } from '../../test/conformance/run-reader.js';
import {
  TEST_ADMIN,
  startInfluxDB,
  startInfluxPair,
  type InfluxDBHandle,
} from '../../test/harness/influxdb.js';
import { createTestCertificates } from '../../test/harness/certificates.js';
import { freePort } from '../../test/harness/ports.js';
import { influxdbSource } from './index.js';
import { influxdbSourceSpec, influxdbSourceConfig } from './source-spec.js';

let influx: InfluxDBHandle;
let secured: InfluxDBHandle;
const DB = 'reports';
const HOUR = 3_600_000;
/** Whole hours, recent (points beyond the retention policy are dropped), in UTC. */
const T0 = Math.floor((Date.now() - 24 * HOUR) / HOUR) * HOUR;

const ns = (ms: number, extra = 0n): string => (BigInt(ms) * 1_000_000n + extra).toString();

beforeAll(async () => {
  [influx, secured] = await startInfluxPair(DB);
  await influx.write(
    [
      // Two machines, one point every 10 minutes over 3 hours, with a nanosecond part kept exact.
      ...Array.from({ length: 18 }, (_, i) =>
        [
          `temp,machine=m1 value=${20 + i},count=${i}i ${ns(T0 + i * 600_000, 123n)}`,
          `temp,machine=m2 value=${30 + i},count=${100 + i}i ${ns(T0 + i * 600_000, 456n)}`,
        ].join('\n'),
      ),
      // Integers past 2^53 and hostile texts.
      `odd,site=caf\\ \\=\\,é\\"x big=9007199254740993i,neg=-9223372036854775808i,text="a \\"quoted\\" ✓ \\\\ , NaN" ${ns(T0 + 5 * 60_000)}`,
    ],
    DB,
  );
  await secured.write([`temp,machine=m1 value=1 ${ns(T0)}`], DB);
}, 60_000);

afterAll(async () => {
  await influx?.dispose();
  await secured?.dispose();
});

const readers: RunReader[] = [];
afterAll(async () => {
  for (const r of readers) await r.close();
});

function reader(config: Record<string, unknown>, ctx: FakeContext = createFakeContext()): RunReader {
  const parsed = influxdbSourceConfig.parse({ url: influx.url, database: DB, ...config });
  const r = influxdbSource.createReader!(parsed, ctx);
  readers.push(r);
  return r;
}

const run = (start: number, end: number, id = `report@${new Date(end).toISOString()}`): Run => ({
  id,
  pipeline: 'report',
  window: { start, end },
  scheduledAt: end,
  attempt: 1,
  timeZone: 'UTC',
});

const signal = (): AbortSignal => AbortSignal.timeout(20_000);

async function readAll(r: RunReader, theRun: Run): Promise<Message[][]> {
  const batches: Message[][] = [];
  for await (const batch of r.read(theRun, signal())) batches.push(batch);
  return batches;
}

/**
 * Reads a run from a stand-in InfluxDB that answers /ping and gives every query to `answer`;
 * returns what the read threw.
 */
async function readFromStandin(
  answer: (res: ServerResponse) => void,
  config: Record<string, unknown> = {},
): Promise<unknown> {
  const server: Server = createServer((req, res) => {
    if (req.url === '/ping') return void res.writeHead(204).end();
    answer(res);
  });
  const p = await freePort();
  await new Promise<void>((resolve) => server.listen(p, '127.0.0.1', resolve));
  try {
    const r = reader({ url: `http://127.0.0.1:${p}`, query: WINDOWED, ...config });
    await r.connect(signal());
    return await readAll(r, run(T0, T0 + HOUR)).catch((e: unknown) => e);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** The head of an answer, cut inside its first series. */
const ANSWER_HEAD =
  '{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[1,2]';

const WINDOWED =
  'SELECT value, count FROM temp WHERE time >= {{ window.start }} AND time < {{ window.end }} GROUP BY machine';

describe('influxdb source (InfluxQL on 1.x)', () => {
  it('is read on a tick only: its definition has a reader and no stream', async () => {
    expect(influxdbSourceSpec.readModes).toEqual(['tick']);
    const loaded = await loadComponent(influxdbSourceSpec);
    expect(loaded.createReader).toBeTypeOf('function');
    expect(loaded.create).toBeUndefined();
  });

  it('gives one message per row of the window, with exact times, tags and fields', async () => {
    const r = reader({ query: WINDOWED });
    await r.connect(signal());
    const messages = (await readAll(r, run(T0, T0 + HOUR))).flat();
    // 6 points per machine in the first hour.
    expect(messages).toHaveLength(12);
    const first = messages[0]!;
    expect(first.payload).toEqual({
      measurement: 'temp',
      tags: { machine: 'm1' },
      fields: { value: 20, count: 0 },
      time: `${new Date(T0).toISOString().slice(0, 19)}.000000123Z`,
    });
    expect(first.meta['influxdb.time']).toBe(ns(T0, 123n));
    expect(first.meta['influxdb.measurement']).toBe('temp');
    expect(first.meta.run).toEqual({
      id: `report@${new Date(T0 + HOUR).toISOString()}`,
      window: { start: T0, end: T0 + HOUR },
    });
    expect(first.time).toBe(T0);
    const m2 = messages.filter((m) => (m.payload as { tags: { machine: string } }).tags.machine === 'm2');
    expect(m2.map((m) => (m.payload as { fields: { value: number } }).fields.value)).toEqual([
      30, 31, 32, 33, 34, 35,
    ]);
    for (const m of messages) {
      expect(m.time).toBeGreaterThanOrEqual(T0);
      expect(m.time).toBeLessThan(T0 + HOUR);
    }
  });

  it('reads several windows, the same rows once each, and nothing for an empty window', async () => {
    const r = reader({ query: WINDOWED });
    await r.connect(signal());
    const hours = [0, 1, 2].map(async (h) =>
      (await readAll(r, run(T0 + h * HOUR, T0 + (h + 1) * HOUR))).flat(),
    );
    const [a, b, c] = await Promise.all(hours);
    expect([a!.length, b!.length, c!.length]).toEqual([12, 12, 12]);
    const ids = new Set([...a!, ...b!, ...c!].map((m) => m.id));
    expect(ids.size).toBe(36);
    // A window with no point: no batch at all, and no error.
    expect(await readAll(r, run(T0 - 10 * HOUR, T0 - 9 * HOUR))).toEqual([]);
  });

  it('gives the same ids when the same run is read again', async () => {
    const r = reader({ query: WINDOWED, chunkSize: 2, batchSize: 5 });
    await r.connect(signal());
    const once = (await readAll(r, run(T0, T0 + 2 * HOUR))).flat().map((m) => m.id);
    const again = (await readAll(r, run(T0, T0 + 2 * HOUR))).flat().map((m) => m.id);
    expect(again).toEqual(once);
    expect(new Set(once).size).toBe(24);
  });

  it('streams a large answer in chunks as batches of batchSize', async () => {
    const r = reader({ query: WINDOWED, chunkSize: 2, batchSize: 5 });
    await r.connect(signal());
    const batches = await readAll(r, run(T0, T0 + 3 * HOUR));
    expect(batches.map((b) => b.length)).toEqual([5, 5, 5, 5, 5, 5, 5, 1]);
    // Series cut into chunks of 2 rows keep counting their rows: ids stay unique.
    expect(new Set(batches.flat().map((m) => m.id)).size).toBe(36);
  });

  it('keeps integers past 2^53 exact (as decimal text) and hostile texts intact', async () => {
    const r = reader({
      query: 'SELECT * FROM odd WHERE time >= {{ window.start:ns }} AND time < {{ window.end:ms }}',
    });
    await r.connect(signal());
    const [m] = (await readAll(r, run(T0, T0 + HOUR))).flat();
    expect(m!.payload).toMatchObject({
      measurement: 'odd',
      fields: {
        big: '9007199254740993',
        neg: '-9223372036854775808',
        // A tag value keeps a backslash before a quote: line protocol escapes no quote there.
        site: 'caf =,é\\"x',
        text: 'a "quoted" ✓ \\ , NaN',
      },
    });
  });

  it('aggregates over the window with {{ window.duration }}', async () => {
    const r = reader({
      query:
        'SELECT mean(value) AS mean FROM temp WHERE time >= {{ window.start }} AND time < {{ window.end }} GROUP BY time({{ window.duration }}), machine',
    });
    await r.connect(signal());
    const messages = (await readAll(r, run(T0, T0 + HOUR))).flat();
    expect(messages.map((m) => m.payload)).toEqual([
      {
        measurement: 'temp',
        tags: { machine: 'm1' },
        fields: { mean: 22.5 },
        time: new Date(T0).toISOString().replace('.000Z', 'Z'),
      },
      {
        measurement: 'temp',
        tags: { machine: 'm2' },
        fields: { mean: 32.5 },
        time: new Date(T0).toISOString().replace('.000Z', 'Z'),
      },
    ]);
  });

  it('runs several statements, each with its own ids', async () => {
    const r = reader({
      query: `SELECT value FROM temp WHERE machine = 'm1' AND time >= {{ window.start }} AND time < {{ window.end }}; SELECT count FROM temp WHERE machine = 'm2' AND time >= {{ window.start }} AND time < {{ window.end }}`,
    });
    await r.connect(signal());
    const messages = (await readAll(r, run(T0, T0 + HOUR))).flat();
    expect(messages.map((m) => m.meta['influxdb.statement'])).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    expect(new Set(messages.map((m) => m.id)).size).toBe(12);
  });

  it('fails the run with InfluxDB’s message for a bad query or a missing database', async () => {
    const ctx = createFakeContext();
    const r = reader({ query: 'SELECT FROM WHERE {{ window.start }}' }, ctx);
    await r.connect(signal());
    const bad = await readAll(r, run(T0, T0 + HOUR)).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(FatalError);
    expect((bad as Error).message).toMatch(/refused the query: error parsing query/);

    const missing = reader({ database: 'nope', query: WINDOWED });
    await missing.connect(signal());
    const error = await readAll(missing, run(T0, T0 + HOUR)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FatalError);
    expect((error as Error).message).toMatch(/statement 0: database not found: nope/);
    expect(await ctx.registry.getSingleMetricAsString('passerelle_influxdb_query_errors_total')).toMatch(
      /cause="refused"[^}]*} 1/,
    );
  });

  it('authenticates with username and password; wrong ones fail clearly', async () => {
    const good = reader({
      url: secured.url,
      username: TEST_ADMIN.username,
      password: TEST_ADMIN.password,
      query: WINDOWED,
    });
    await good.connect(signal());
    expect((await readAll(good, run(T0, T0 + HOUR))).flat()).toHaveLength(1);

    const wrong = reader({
      url: secured.url,
      username: TEST_ADMIN.username,
      password: 'wrong',
      query: WINDOWED,
    });
    await wrong.connect(signal());
    const error = await readAll(wrong, run(T0, T0 + HOUR)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FatalError);
    expect((error as Error).message).toMatch(/refused the credentials of user "admin" \(401\)/);
    expect((error as Error).message).not.toContain('wrong');

    const none = reader({ url: secured.url, query: WINDOWED });
    await none.connect(signal());
    expect(await readAll(none, run(T0, T0 + HOUR)).catch((e: unknown) => e)).toBeInstanceOf(FatalError);
  });

  it('queries over TLS trusting the configured CA, and refuses a server it can not verify', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-influx-source-tls-'));
    createTestCertificates(dir);
    const tls = await startInfluxDB({
      tls: {
        certificate: join(dir, 'server.pem'),
        privateKey: join(dir, 'server.key'),
        ca: join(dir, 'ca.pem'),
      },
    });
    try {
      await tls.query(`CREATE DATABASE ${DB}`);
      const r = reader({ url: tls.url, tls: { ca: join(dir, 'ca.pem') }, query: 'SHOW MEASUREMENTS' });
      await r.connect(signal());
      // An empty database: no batch, no error.
      expect(await readAll(r, run(T0, T0 + HOUR))).toEqual([]);
      const untrusted = reader({ url: tls.url, query: 'SHOW MEASUREMENTS' });
      const error = await untrusted.connect(signal()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotConnectedError);
      expect((error as Error).message).toMatch(/certificate/i);
      const insecure = reader({ url: tls.url, tls: { rejectUnauthorized: false }, query: 'SHOW DATABASES' });
      await insecure.connect(signal());
      const rows = (await readAll(insecure, run(T0, T0 + HOUR))).flat();
      expect(rows.map((m) => (m.payload as { fields: { name: string } }).fields.name)).toContain(DB);
      // No time column: timed at the window's start, `time` null.
      expect(rows[0]!.time).toBe(T0);
      expect((rows[0]!.payload as { time: unknown }).time).toBeNull();
    } finally {
      await tls.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('times out a silent InfluxDB, but not a pipeline that is slow to take batches', async () => {
    // A server that sends the head of an answer, then nothing.
    const error = await readFromStandin(
      (res) => res.writeHead(200, { 'content-type': 'application/json' }).write(ANSWER_HEAD),
      { timeout: '300ms' },
    );
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toMatch(/no answer within 300 ms/);
    // The real one, with an answer larger than the socket buffers (InfluxDB must wait for the
    // reader) and a pipeline that holds batches longer than the timeout.
    const text = 'x'.repeat(200);
    const lines = Array.from(
      { length: 20_000 },
      (_, i) => `bulk s="${text}",i=${i}i ${ns(T0 + 4 * HOUR, BigInt(i))}`,
    );
    for (let i = 0; i < lines.length; i += 5000) await influx.write(lines.slice(i, i + 5000), DB);
    const slow = reader({
      query: 'SELECT * FROM bulk WHERE time >= {{ window.start }} AND time < {{ window.end }}',
      timeout: '200ms',
      chunkSize: 1000,
      batchSize: 2000,
    });
    await slow.connect(signal());
    let rows = 0;
    let held = 0;
    for await (const batch of slow.read(run(T0 + 4 * HOUR, T0 + 5 * HOUR), signal())) {
      rows += batch.length;
      if (held++ < 3) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(rows).toBe(20_000);
  }, 60_000);

  it('is not connected while nothing listens, and retries on 5xx', async () => {
    const port = await freePort();
    const down = reader({ url: `http://127.0.0.1:${port}`, query: WINDOWED });
    await expect(down.connect(signal())).rejects.toBeInstanceOf(NotConnectedError);

    // A proxy in front of InfluxDB that is down answers 502/503.
    const error = await readFromStandin((res) =>
      res.writeHead(503, { 'retry-after': '7', 'content-type': 'text/plain' }).end('upstream unavailable'),
    );
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as RetryableError).retryAfterMs).toBe(7000);
    expect((error as Error).message).toMatch(/answered 503: upstream unavailable/);
  });

  it('fails a run whose InfluxDB goes away mid-answer as retryable or not connected', async () => {
    // An answer cut after its first chunk.
    const error = await readFromStandin((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(ANSWER_HEAD);
      setTimeout(() => res.socket?.destroy(), 50);
    });
    expect(error instanceof RetryableError || error instanceof NotConnectedError).toBe(true);
  });
});

runReaderConformance('influxdb source', () => ({
  create: (ctx) => reader({ query: WINDOWED, chunkSize: 3, batchSize: 4 }, ctx),
  window: { start: T0, end: T0 + 2 * HOUR },
  times: 'window',
  minMessages: 2,
}));
