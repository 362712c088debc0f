import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BatchError,
  FatalError,
  NotConnectedError,
  RetryableError,
  SinkStoppedError,
  createMessage,
  type Message,
} from '../../src/sdk/index.js';
import { createFakeContext } from '../../test/conformance/context.js';
import { SheetsStub, type SheetsStubOptions } from '../../test/sheets-stub/server.js';
import { columnValues, readings, stubSink, writeUntilDone } from '../../test/sheets-stub/sink-fixture.js';
import { GoogleSheetsSink } from './sink.js';
import { googleSheetsSinkConfig } from './spec.js';

const stubs: SheetsStub[] = [];
const sinks: GoogleSheetsSink[] = [];

async function setup(options: SheetsStubOptions = {}) {
  const stub = new SheetsStub({ writesPerWindow: 1000, readsPerWindow: 1000, ...options });
  await stub.start();
  stubs.push(stub);
  return { stub, id: stub.createSpreadsheet() };
}

async function connected(...args: Parameters<typeof stubSink>) {
  const made = stubSink(...args);
  sinks.push(made.sink);
  await made.sink.connect(AbortSignal.timeout(10_000));
  return made;
}

afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
  for (const s of stubs.splice(0)) await s.stop();
});

const signal = () => AbortSignal.timeout(20_000);

describe('google-sheets sink', () => {
  it('writes the header and typed rows, and extends the header without reordering it', async () => {
    const { stub, id } = await setup();
    const { sink } = await connected(stub, id, { tab: 'plant' });
    const time = Date.UTC(2024, 4, 1, 12, 0, 0);
    await sink.write(
      [
        createMessage({ id: 'a', time, payload: { temperature: 21.5, ok: true, device: { id: 'd-1' } } }),
        createMessage({
          id: 'b',
          time: time + 1000,
          payload: { temperature: 22, ok: false, device: { id: 'd-2' } },
        }),
      ],
      signal(),
    );
    await sink.write(
      [createMessage({ id: 'c', time: time + 2000, payload: { humidity: 40, temperature: 23 } })],
      signal(),
    );
    const rows = stub.values(id, 'plant');
    // The batch id column comes after the columns of the first batch; later fields after it.
    expect(rows[0]).toEqual(['time', 'temperature', 'ok', 'device.id', 'passerelle batch', 'humidity']);
    // Dates are serial numbers (days since 1899-12-30) shown with a date format.
    expect(rows[1]?.slice(0, 4)).toEqual([45413.5, 21.5, true, 'd-1']);
    expect(rows[1]?.[4]).toMatch(/^[\w-]{22}$/);
    expect(rows[2]?.[2]).toBe(false);
    expect(rows[3]?.slice(1, 4)).toEqual([23, null, null]);
    expect(rows[3]?.[5]).toBe(40);
    expect(rows[3]?.[0]).toBeCloseTo(45413.5 + 2 / 86400, 9);
    expect(stub.format(id, 'plant', 2, 1)).toBe('yyyy-mm-dd hh:mm:ss');
    expect(stub.format(id, 'plant', 4, 1)).toBe('yyyy-mm-dd hh:mm:ss');
    expect(rows).toHaveLength(4);
  });

  it('hides the batch id column when it writes its header, and leaves it as people set it after', async () => {
    const { stub, id } = await setup();
    const { sink } = await connected(stub, id, { tab: 'plant' });
    await sink.write(readings(2), signal());
    const at = stub.values(id, 'plant')[0]!.indexOf('passerelle batch');
    expect(at).toBeGreaterThanOrEqual(0);
    expect(stub.sheet(id, 'plant')?.hiddenColumns).toEqual(new Set([at]));
    // Someone shows it again: later batches (and a grown header) do not hide it again.
    stub.sheet(id, 'plant')!.hiddenColumns.clear();
    await sink.write(
      [createMessage({ id: 'x', time: Date.now(), payload: { humidity: 40, value: 'v' } })],
      signal(),
    );
    expect(stub.values(id, 'plant')[0]).toContain('humidity');
    expect(stub.sheet(id, 'plant')?.hiddenColumns.size).toBe(0);
  });

  it('stores formula-like text as text: RAW by default, escaped with USER_ENTERED', async () => {
    const { stub, id } = await setup();
    const columns = [
      { header: 'id', value: 'id' },
      { header: 'note', value: 'payload.note', type: 'text' },
      { header: 'level', value: 'payload.level', type: 'number', format: '0.00' },
    ];
    const { sink: raw } = await connected(stub, id, { tab: 'raw', columns });
    const { sink: entered } = await connected(stub, id, {
      tab: 'entered',
      columns,
      valueInputOption: 'USER_ENTERED',
    });
    const batch = [
      createMessage({ id: 'x', payload: { note: '=HYPERLINK("http://evil")', level: '7.5' } }),
      createMessage({ id: 'y', payload: { note: '+1', level: 'not a number' } }),
    ];
    await raw.write(batch, signal());
    await entered.write(batch, signal());
    for (const tab of ['raw', 'entered']) {
      const sheet = stub.sheet(id, tab)!;
      expect(sheet.rows.flat().some((c) => c?.formula)).toBe(false);
      expect(stub.values(id, tab).map((row) => row.slice(0, 3))).toEqual([
        ['id', 'note', 'level'],
        ['x', '=HYPERLINK("http://evil")', 7.5],
        ['y', '+1', null],
      ]);
    }
    // RAW cells carry their number format; USER_ENTERED leaves formats to what Sheets infers.
    expect(stub.format(id, 'raw', 2, 3)).toBe('0.00');
    // Inferred headers come from payload keys: they are escaped too.
    const { sink: inferred } = await connected(stub, id, { tab: 'keys', valueInputOption: 'USER_ENTERED' });
    await inferred.write([createMessage({ id: 'z', payload: { '=cmd|calc': '@SUM(A1)' } })], signal());
    expect(
      stub
        .sheet(id, 'keys')!
        .rows.flat()
        .some((c) => c?.formula),
    ).toBe(false);
    expect(stub.values(id, 'keys')[0]).toEqual(['time', '=cmd|calc', 'passerelle batch']);
    expect(stub.values(id, 'keys')[1]?.[1]).toBe('@SUM(A1)');
  });

  it('writes one tab per device in one request per flush, creating the tabs once', async () => {
    const { stub, id } = await setup();
    const { sink } = await connected(stub, id, { tab: '{{ payload.device }} {{ date:YYYY-MM-DD }}' });
    const since = Date.now();
    const batch = readings(30, 'dev', (i) => ({ device: `d${i % 3}` }));
    await sink.write(batch, signal());
    const writes = stub.writes(since);
    // One spreadsheets.batchUpdate: three addSheet, their header rows and the appended rows.
    expect(writes.map((w) => w.path)).toEqual([`/v4/spreadsheets/${id}:batchUpdate`]);
    for (const d of ['d0', 'd1', 'd2']) expect(stub.values(id, `${d} 2024-05-01`)).toHaveLength(11);
    await sink.write(
      readings(6, 'more', (i) => ({ device: `d${i % 3}` })),
      signal(),
    );
    expect(stub.writes(since)).toHaveLength(2);
  });

  it('after a 429 backs off as told, then writes everything once', async () => {
    const { stub, id } = await setup({ writesPerWindow: 2, windowMs: 1500, retryAfterHeader: true });
    const { sink } = await connected(stub, id);
    const batches = [readings(5), readings(5), readings(5)];
    const errors: Error[] = [];
    for (const b of batches) errors.push(...(await writeUntilDone(sink, b)));
    const quota = errors.filter((e) => e instanceof RetryableError && /quota/.test(e.message));
    expect(quota.length).toBeGreaterThan(0);
    expect((quota[0] as RetryableError).retryAfterMs).toBeGreaterThan(0);
    const expected = batches.flat().map((m) => (m.payload as { value: string }).value);
    expect(columnValues(stub, id).sort()).toEqual(expected.sort());
  });

  it('without Retry-After, pauses the whole account for the configured backoff', async () => {
    const { stub, id } = await setup();
    const { sink } = await connected(stub, id, {
      quota: { writesPerMinute: 300, burst: 300, backoff: '700ms' },
    });
    stub.failNext(1, 429, { message: "Quota exceeded for quota metric 'Write requests'" });
    const error = await sink.write(readings(2), signal()).then(
      () => new Error('expected a failure'),
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as RetryableError).retryAfterMs).toBe(700);
    // The shared bucket is blocked: the next write waits instead of being refused again.
    const started = Date.now();
    await sink.write(readings(2), signal());
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
  });

  it('a lost answer or a timeout does not duplicate rows: the retry finds its batch id in the tab', async () => {
    const { stub, id } = await setup();
    const { sink } = await connected(stub, id, { requestTimeout: '300ms' });
    await sink.write(readings(3), signal());
    const lost = readings(4);
    stub.loseResponses(1);
    const errors = await writeUntilDone(sink, lost);
    expect(errors[0]).toBeInstanceOf(NotConnectedError);
    const slow = readings(4);
    stub.setDelay(600);
    const first = await sink.write(slow, signal()).then(
      () => new Error('expected a failure'),
      (e: Error) => e,
    );
    stub.setDelay(0);
    expect(first).toBeInstanceOf(RetryableError);
    await writeUntilDone(sink, slow);
    await sink.write(readings(2), signal());
    const values = columnValues(stub, id);
    expect(values).toHaveLength(13);
    expect(new Set(values).size).toBe(13);
    // No gap and no second copy.
    expect(stub.values(id, 'test')).toHaveLength(14);
  });

  it('retries 5xx answers without losing or repeating rows', async () => {
    const { stub, id } = await setup();
    const { sink } = await connected(stub, id);
    stub.failNext(2, 503);
    const batch = readings(10);
    const errors = await writeUntilDone(sink, batch);
    expect(errors).toHaveLength(2);
    expect(errors.every((e) => e instanceof RetryableError && /503/.test(e.message))).toBe(true);
    expect(columnValues(stub, id)).toEqual(batch.map((m) => (m.payload as { value: string }).value));
  });

  it('rolls over to a new tab at the row cap', async () => {
    const { stub, id } = await setup();
    const { sink } = await connected(stub, id, { tab: 'log', maxRowsPerTab: 5 });
    const batches = [readings(4), readings(4), readings(4), readings(12)];
    for (const b of batches) await sink.write(b, signal());
    const titles = stub.spreadsheets.get(id)!.sheets.map((s) => s.title);
    expect(titles).toEqual(['Sheet1', 'log', 'log (2)', 'log (3)', 'log (4)', 'log (5)', 'log (6)']);
    for (const t of titles.slice(1)) {
      const rows = stub.values(id, t);
      expect(rows[0]?.[0]).toBe('time');
      expect(rows.length - 1).toBeLessThanOrEqual(5);
    }
    expect(columnValues(stub, id).sort()).toEqual(
      batches
        .flat()
        .map((m) => (m.payload as { value: string }).value)
        .sort(),
    );
  });

  it('continues after the last row when restarted without shared state', async () => {
    const { stub, id } = await setup();
    const first = await connected(stub, id, { tab: 'log' });
    await first.sink.write(readings(3), signal());
    await first.sink.close();
    const second = await connected(stub, id, { tab: 'log' });
    await second.sink.write(
      readings(2, 'later', () => ({ extra: 1 })),
      signal(),
    );
    const rows = stub.values(id, 'log');
    expect(rows[0]).toEqual(['time', 'value', 'n', 'passerelle batch', 'extra']);
    expect(rows).toHaveLength(6);
    expect(rows[5]?.[1]).toBe('later-1');
  });

  it('a payload field named time gets its own header, read back right after a restart', async () => {
    const { stub } = await setup();
    const time = Date.UTC(2024, 4, 1, 12, 0, 0);
    const message = (n: number) =>
      createMessage({ id: `t${n}`, time: time + n, payload: { time: `device-${n}`, v: n } });
    const first = stub.createSpreadsheet();
    const { sink } = await connected(stub, first, { tab: 'log' });
    await sink.write([message(1)], signal());
    expect(stub.values(first, 'log')[0]?.slice(0, 3)).toEqual(['time', 'time (2)', 'v']);
    // What a restarted process finds: only the tab, written by an earlier one.
    const id = stub.createSpreadsheet({ tabs: ['log'] });
    stub.typeRow(
      id,
      'log',
      1,
      (stub.values(first, 'log')[0] ?? []).map((h) => h ?? ''),
    );
    const restarted = await connected(stub, id, { tab: 'log' });
    await restarted.sink.write([message(2)], signal());
    const rows = stub.values(id, 'log');
    expect(rows[0]?.slice(0, 3)).toEqual(['time', 'time (2)', 'v']);
    expect(rows[1]?.slice(1, 3)).toEqual(['device-2', 2]);
  });

  it('dead-letters a 400 with Google’s message, and only the bad message of a batch', async () => {
    const { stub, id } = await setup();
    const { sink } = await connected(stub, id);
    stub.failNext(1, 400, { message: "Invalid value at 'data[0].values' (Foo)" });
    const error = await sink.write(readings(2), signal()).then(
      () => new Error('expected a failure'),
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(FatalError);
    expect(error.message).toContain("Invalid value at 'data[0].values' (Foo)");
    const batch = readings(3, 'big', (i) => (i === 1 ? { blob: 'x'.repeat(60_000) } : {}));
    const partial = await sink.write(batch, signal()).then(
      () => new Error('expected a failure'),
      (e: Error) => e,
    );
    expect(partial).toBeInstanceOf(BatchError);
    const failures = (partial as BatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([1]);
    expect(failures[0]?.error).toBeInstanceOf(FatalError);
    expect(failures[0]?.error.message).toMatch(/60000 characters exceeds the 50000/);
    expect(columnValues(stub, id)).toEqual(['big-0', 'big-2']);
  });

  it('stops with a readable error on bad credentials or a spreadsheet not shared', async () => {
    const { stub, id } = await setup();
    const { sink, ctx } = await connected(stub, id, {}, { token: 'expired-or-wrong' });
    expect(ctx.state).toBe('stopped');
    const error = await sink.write(readings(1), signal()).then(
      () => new Error('expected a failure'),
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(SinkStoppedError);
    expect(error.message).toMatch(/Google refused the credentials \(401/);
    const requests = stub.requests.length;
    await sink.write(readings(1), signal()).catch(() => {});
    expect(stub.requests.length).toBe(requests);

    const other = stub.createSpreadsheet({ users: ['owner@example.com'] });
    const forbidden = await connected(stub, other);
    expect(forbidden.ctx.state).toBe('stopped');
    expect(forbidden.ctx.states.at(-1)?.error?.message).toMatch(
      /no permission on spreadsheet .*Share the spreadsheet with robot\+\d+@example.iam.gserviceaccount.com/,
    );
  });

  it('stops, without printing the key, when the service account key is not valid JSON', async () => {
    const { stub, id } = await setup();
    const { sink, ctx } = await connected(
      stub,
      id,
      { auth: { serviceAccountKey: 'not-json-SECRET' } },
      { token: null },
    );
    expect(ctx.state).toBe('stopped');
    const error = await sink.write(readings(1), signal()).then(
      () => new Error('expected a failure'),
      (e: Error) => e,
    );
    expect(error.message).toMatch(/serviceAccountKey: not valid JSON/);
    expect(error.message).not.toContain('SECRET');
  });

  it('authenticates with a service account key (self-signed JWT with the spreadsheets scope)', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const email = 'writer@project.iam.gserviceaccount.com';
    const { stub } = await setup({
      serviceAccounts: { [email]: publicKey.export({ type: 'spki', format: 'pem' }) as string },
    });
    const id = stub.createSpreadsheet({ users: [email] });
    const key = JSON.stringify({
      type: 'service_account',
      client_email: email,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      private_key_id: 'k1',
    });
    const { sink } = await connected(stub, id, { auth: { serviceAccountKey: key } }, { token: null });
    await sink.write(readings(2, 'sa'), signal());
    expect(columnValues(stub, id)).toEqual(['sa-0', 'sa-1']);
    expect(stub.requests.at(-1)?.user).toBe(email);
  });

  it('authenticates with an OAuth refresh token, and stops when it is revoked', async () => {
    const { stub } = await setup({
      oauth: { clients: { 'client-1': 'client-secret' }, refreshTokens: { 'refresh-ok': 'ana@example.com' } },
    });
    const id = stub.createSpreadsheet({ users: ['ana@example.com'] });
    const auth = (refreshToken: string) => ({
      clientId: 'client-1',
      clientSecret: 'client-secret',
      refreshToken,
      tokenUrl: stub.tokenUrl,
    });
    const ok = await connected(stub, id, { auth: auth('refresh-ok') }, { token: null });
    await ok.sink.write(readings(1, 'oauth'), signal());
    expect(columnValues(stub, id)).toEqual(['oauth-0']);
    const revoked = await connected(stub, id, { auth: auth('refresh-revoked') }, { token: null });
    expect(revoked.ctx.state).toBe('stopped');
    expect(revoked.ctx.states.at(-1)?.error?.message).toMatch(/OAuth credentials .*invalid_grant/);
    expect(revoked.ctx.states.at(-1)?.error?.message).not.toContain('refresh-revoked');
  });

  it('reports the outage while idle and fails fast, then recovers', async () => {
    const { stub, id } = await setup();
    const { sink, ctx } = await connected(stub, id);
    await stub.stop();
    await ctx.waitForState('reconnecting', 5_000);
    await expect(sink.write(readings(1), signal())).rejects.toBeInstanceOf(NotConnectedError);
    await stub.start();
    await ctx.waitForState('connected', 5_000);
    await sink.write(readings(1, 'back'), signal());
    expect(columnValues(stub, id)).toEqual(['back-0']);
  });

  it('two sinks on one tab in one process share its rows and header: nothing overwritten', async () => {
    const { stub, id } = await setup();
    const { sink: a } = await connected(stub, id, { tab: 'shared' });
    const { sink: b } = await connected(stub, id, { tab: 'shared' });
    const batchesA = Array.from({ length: 4 }, (_, k) => readings(5, `a${k}`, () => ({ pressure: k })));
    const batchesB = Array.from({ length: 4 }, (_, k) => readings(5, `b${k}`, () => ({ humidity: k })));
    await Promise.all([
      (async () => {
        for (const batch of batchesA) await a.write(batch, signal());
      })(),
      (async () => {
        for (const batch of batchesB) await b.write(batch, signal());
      })(),
    ]);
    const expected = [...batchesA, ...batchesB].flat().map((m) => (m.payload as { value: string }).value);
    expect(columnValues(stub, id).sort()).toEqual(expected.sort());
    const header = stub.values(id, 'shared')[0] ?? [];
    expect(new Set(header).size).toBe(header.length);
    expect(header).toEqual(expect.arrayContaining(['time', 'value', 'n', 'pressure', 'humidity']));
  });

  it('two sinks of one Google identity in one process share one write quota', async () => {
    // Google's 60 writes per minute per user, scaled: 10 per 2 s. Each sink alone is configured
    // for 3 per second (within it); both with their own bucket would send 6 per second.
    const { stub, id } = await setup({ writesPerWindow: 10, windowMs: 2000 });
    const quota = { writesPerMinute: 180, burst: 2, backoff: '2s' };
    const { sink: a } = await connected(stub, id, { tab: 'a', quota });
    const { sink: b } = await connected(stub, id, { tab: 'b', quota });
    const run = async (sink: GoogleSheetsSink) => {
      for (let k = 0; k < 8; k++) await writeUntilDone(sink, readings(3));
    };
    await Promise.all([run(a), run(b)]);
    expect(stub.requests.filter((r) => r.status === 429)).toEqual([]);
    expect(columnValues(stub, id)).toHaveLength(48);
  });

  it('the header only grows to the right when configured and inferred columns share a tab', async () => {
    const { stub, id } = await setup();
    const { sink: configured } = await connected(stub, id, {
      tab: 'mixed',
      columns: [
        { header: 'time', value: 'time' },
        { header: 'temperature', value: 'payload.t', type: 'number' },
        { header: 'site', value: 'payload.site', type: 'text' },
      ],
    });
    const { sink: inferred } = await connected(stub, id, { tab: 'mixed' });
    const headers: unknown[][] = [];
    const steps: [GoogleSheetsSink, Record<string, unknown>][] = [
      [inferred, { value: 'i1', n: 1 }],
      [configured, { t: 20.5, site: 'north' }],
      [inferred, { value: 'i2', humidity: 40 }],
      [configured, { t: 21, site: 'south' }],
    ];
    for (const [k, [sink, payload]] of steps.entries()) {
      await sink.write([createMessage({ id: `h${k}`, payload, time: Date.UTC(2024, 4, 1) })], signal());
      headers.push(stub.values(id, 'mixed')[0] ?? []);
    }
    for (let k = 1; k < headers.length; k++)
      expect(headers[k]?.slice(0, headers[k - 1]?.length)).toEqual(headers[k - 1]);
    const rows = stub.values(id, 'mixed');
    const header = rows[0] ?? [];
    const at = (row: number, name: string) => rows[row]?.[header.indexOf(name)];
    const south = rows.findIndex((r) => r.includes('south'));
    expect(at(south, 'temperature')).toBe(21);
    const i2 = rows.findIndex((r) => r.includes('i2'));
    expect(at(i2, 'humidity')).toBe(40);
  });

  it('timeZone: date cells and {{ date }} tab names in local time', async () => {
    const { stub, id } = await setup();
    const { sink } = await connected(stub, id, {
      tab: 'day {{ date:YYYY-MM-DD }}',
      timeZone: 'Europe/Berlin',
      columns: [{ header: 'time', value: 'time' }],
    });
    // 22:30 UTC on 1 May is 00:30 on 2 May in Berlin (UTC+2 in summer).
    await sink.write(
      [createMessage({ id: 'tz', payload: {}, time: Date.UTC(2024, 4, 1, 22, 30) })],
      signal(),
    );
    const rows = stub.values(id, 'day 2024-05-02');
    expect(rows[1]?.[0]).toBeCloseTo(45414 + 0.5 / 24, 9);
    expect(stub.format(id, 'day 2024-05-02', 2, 1)).toBe('yyyy-mm-dd hh:mm:ss');
    expect(
      googleSheetsSinkConfig.safeParse({
        spreadsheetId: 'x',
        auth: { serviceAccountKey: '{}' },
        timeZone: 'Mars/Olympus',
      }).success,
    ).toBe(false);
  });

  it('splits a batch into requests of at most 2 MB; a lost answer in the middle duplicates nothing', async () => {
    const { stub, id } = await setup();
    const { sink } = await connected(stub, id, { tab: 'big' });
    const batch = readings(100, 'big', () => ({ text: 'x'.repeat(40_000) }));
    const since = Date.now();
    // The second write request is applied and its answer lost.
    stub.beforeNextWrite(() => stub.beforeNextWrite(() => stub.loseResponses(1)));
    await writeUntilDone(sink, batch);
    const writes = stub.writes(since);
    expect(writes.length).toBeGreaterThanOrEqual(3);
    for (const w of writes) expect(w.bytes).toBeLessThanOrEqual(2_000_000);
    const values = columnValues(stub, id);
    expect(values).toHaveLength(100);
    expect(new Set(values).size).toBe(100);
  });

  it('a message that can never be written fails alone: dead-lettered with its reason, the rest written', async () => {
    const { stub, id } = await setup();
    const { sink } = await connected(stub, id, { tab: 'keys' });
    // A field name holding both quote characters: no column path can name it.
    const batch = [
      createMessage({ id: 'ok-1', payload: { value: 'ok-1' } }),
      createMessage({ id: 'bad', payload: { value: 'bad', [`a'"b`]: 1 } }),
      createMessage({ id: 'ok-2', payload: { value: 'ok-2' } }),
      createMessage({ id: 'bad-2', payload: { value: 'bad-2', [`a'"b`]: 2 } }),
    ];
    const error = await sink.write(batch, signal()).then(
      () => new Error('expected a failure'),
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(BatchError);
    const failures = (error as BatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([1, 3]);
    for (const f of failures) {
      expect(f.error).toBeInstanceOf(FatalError);
      expect(f.error.message).toContain(`a'"b`);
    }
    expect(columnValues(stub, id)).toEqual(['ok-1', 'ok-2']);
    // The sink goes on: the next batch is written.
    await sink.write([createMessage({ id: 'ok-3', payload: { value: 'ok-3' } })], signal());
    expect(columnValues(stub, id)).toEqual(['ok-1', 'ok-2', 'ok-3']);
  });

  it('a message that would add a column past Google’s 18,278 fails alone; the others are written', async () => {
    const { stub, id } = await setup();
    const { sink, ctx } = await connected(stub, id, { tab: 'wide', requestTimeout: '60s' });
    const fields = (prefix: string, n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, i]));
    // Requests this wide are slow on a busy machine: transient failures are retried, as the outbox would.
    const outcome = async (batch: Message[]): Promise<Error | undefined> => {
      for (let attempt = 0; attempt < 20; attempt++) {
        const e = await sink.write(batch, AbortSignal.timeout(60_000)).then(
          () => undefined,
          (err: Error) => err,
        );
        // Tried again when the sink says it is back (its probe), or when Google asked.
        if (e instanceof NotConnectedError) await ctx.waitForState('connected', 60_000);
        else if (e instanceof RetryableError) await new Promise((r) => setTimeout(r, e.retryAfterMs ?? 0));
        else return e;
      }
      return new Error('still failing');
    };
    // time + value + 18,000 fields + the batch id column: 18,003 columns.
    expect(
      await outcome([createMessage({ id: 'w0', payload: { value: 'w0', ...fields('f', 18_000) } })]),
    ).toBe(undefined);
    const error = await outcome([
      createMessage({ id: 'w1', payload: { value: 'w1', ...fields('g', 300) } }),
      createMessage({ id: 'w2', payload: { value: 'w2', f7: 7 } }),
    ]);
    expect(error).toBeInstanceOf(BatchError);
    expect((error as BatchError).failures.map((f) => f.index)).toEqual([0]);
    expect((error as BatchError).failures[0]?.error.message).toMatch(/more than the 18278 columns/);
    expect(columnValues(stub, id)).toEqual(['w0', 'w2']);
    expect(stub.sheet(id, 'wide')!.columnCount).toBeLessThanOrEqual(18_278);
  });

  it('refuses a config with unknown keys or a bad template', () => {
    const base = { spreadsheetId: 'abc', auth: { serviceAccountKey: '{}' } };
    expect(googleSheetsSinkConfig.safeParse(base).success).toBe(true);
    expect(googleSheetsSinkConfig.safeParse({ ...base, tabb: 'x' }).success).toBe(false);
    expect(googleSheetsSinkConfig.safeParse({ ...base, tab: '{{ nope.x }}' }).success).toBe(false);
    expect(
      googleSheetsSinkConfig.safeParse({ ...base, spreadsheetId: 'https://docs.google.com/x' }).success,
    ).toBe(false);
    const parsed = googleSheetsSinkConfig.parse(base);
    expect(parsed).toMatchObject({ tab: '{{ pipeline }}', valueInputOption: 'RAW', maxRowsPerTab: 100_000 });
    expect(parsed.quota).toEqual({ writesPerMinute: 40, burst: 10, backoff: 60_000 });
    expect(createFakeContext()).toBeDefined();
  });
});
