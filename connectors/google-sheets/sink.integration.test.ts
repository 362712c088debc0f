import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotConnectedError, type Message } from '../../src/sdk/index.js';
import { createFakeContext } from '../../test/conformance/context.js';
import { startRedis, type ServiceHandle } from '../../test/harness/services.js';
import { SheetsStub } from '../../test/sheets-stub/server.js';
import { columnValues, readings, stubSink, writeUntilDone } from '../../test/sheets-stub/sink-fixture.js';
import type { GoogleSheetsSink } from './sink.js';

/**
 * Two replicas of the sink (two sink instances, as two services would run them) sharing one
 * spreadsheet through a real Redis: the write quota of the identity, the record of each batch id
 * and the header are shared. (Sinks in one process share them without Redis: sink.test.ts.)
 */
let redis: ServiceHandle;
const stubs: SheetsStub[] = [];
const sinks: GoogleSheetsSink[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.dispose());
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
  for (const s of stubs.splice(0)) await s.stop();
});

async function stubWithQuota(writesPerWindow: number, windowMs: number) {
  const stub = new SheetsStub({ writesPerWindow, windowMs, readsPerWindow: 1000 });
  await stub.start();
  stubs.push(stub);
  return { stub, id: stub.createSpreadsheet() };
}

async function replica(
  stub: SheetsStub,
  id: string,
  shared: boolean,
  overrides: Record<string, unknown> = {},
) {
  const ctx = createFakeContext(shared ? { redisUrl: redis.url } : {});
  const { sink } = stubSink(stub, id, { tab: 'shared', ...overrides }, { ctx });
  sinks.push(sink);
  await sink.connect(AbortSignal.timeout(10_000));
  return sink;
}

/** Each replica writes its batches one after the other, both at once; returns every error seen. */
async function race(a: GoogleSheetsSink, b: GoogleSheetsSink, batches: Message[][]): Promise<Error[]> {
  const half = Math.ceil(batches.length / 2);
  const run = async (sink: GoogleSheetsSink, list: Message[][]) => {
    const errors: Error[] = [];
    for (const batch of list) errors.push(...(await writeUntilDone(sink, batch, 40)));
    return errors;
  };
  const [ea, eb] = await Promise.all([run(a, batches.slice(0, half)), run(b, batches.slice(half))]);
  return [...ea, ...eb];
}

const values = (batches: Message[][]) => batches.flat().map((m) => (m.payload as { value: string }).value);

describe('google-sheets sink, two replicas with Redis', () => {
  // Google's quota scaled down: 10 writes per 2 s window (5/s). The account may send 3/s (a bucket
  // of 2): together within the quota, with a margin for requests granted just before a window.
  const quota = { writesPerMinute: 180, burst: 2, backoff: '2s' };

  it('stays within the quota together, and every row lands once', async () => {
    const { stub, id } = await stubWithQuota(10, 2000);
    const a = await replica(stub, id, true, { quota });
    const b = await replica(stub, id, true, { quota });
    const batches = Array.from({ length: 16 }, () => readings(5));
    const started = Date.now();
    const errors = await race(a, b, batches);
    expect(stub.requests.filter((r) => r.status === 429)).toEqual([]);
    expect(errors).toEqual([]);
    expect(columnValues(stub, id).sort()).toEqual(values(batches).sort());
    // 16 value writes + the tab creation(s), paced by the shared bucket: 3 per second after a burst of 2.
    const writes = stub.writes(started).length;
    expect(writes).toBeGreaterThanOrEqual(17);
    expect(Date.now() - started).toBeGreaterThanOrEqual(((writes - 2) / 3) * 1000 - 300);
  });

  it('a batch retried by the other replica after a lost answer is written once, around people’s edits', async () => {
    const { stub, id } = await stubWithQuota(1000, 60_000);
    const a = await replica(stub, id, true);
    const b = await replica(stub, id, true);
    await a.write(readings(2, 'before'), AbortSignal.timeout(10_000));
    const batch = readings(4, 'lost');
    stub.loseResponses(1);
    await expect(a.write(batch, AbortSignal.timeout(10_000))).rejects.toBeInstanceOf(NotConnectedError);
    // A person types under the data and sorts it before the other replica retries.
    stub.typeRow(id, 'shared', stub.values(id, 'shared').length + 1, ['typed by hand']);
    stub.sortRows(id, 'shared', 2, 1, true);
    await writeUntilDone(b, batch);
    await writeUntilDone(a, readings(2, 'after'));
    const got = columnValues(stub, id).sort();
    expect(got).toEqual([
      'after-0',
      'after-1',
      'before-0',
      'before-1',
      'lost-0',
      'lost-1',
      'lost-2',
      'lost-3',
    ]);
    expect(stub.values(id, 'shared').flat()).toContain('typed by hand');
  });

  it('waits while Redis is down (no batch is sent without its shared record), then writes once', async () => {
    const { stub, id } = await stubWithQuota(1000, 60_000);
    const a = await replica(stub, id, true);
    await a.write(readings(1, 'first'), AbortSignal.timeout(10_000));
    await redis.stop();
    const batch = readings(3, 'during');
    try {
      const error = await a.write(batch, AbortSignal.timeout(10_000)).then(
        () => new Error('expected a failure'),
        (e: Error) => e,
      );
      expect(error).toBeInstanceOf(NotConnectedError);
      expect(error.message).toMatch(/Redis holding the sink's shared state/);
    } finally {
      await redis.restart();
    }
    await writeUntilDone(a, batch, 60);
    expect(columnValues(stub, id)).toEqual(['first-0', 'during-0', 'during-1', 'during-2']);
  });

  it('shares one header: columns seen by either replica keep one order', async () => {
    const { stub, id } = await stubWithQuota(1000, 60_000);
    const a = await replica(stub, id, true);
    const b = await replica(stub, id, true);
    await a.write(
      readings(1, 'a', () => ({ pressure: 1.5 })),
      AbortSignal.timeout(10_000),
    );
    await b.write(
      readings(1, 'b', () => ({ humidity: 40 })),
      AbortSignal.timeout(10_000),
    );
    await a.write(
      readings(1, 'c', () => ({ humidity: 41, pressure: 1.6 })),
      AbortSignal.timeout(10_000),
    );
    const batchId = expect.stringMatching(/^[\w-]{22}$/);
    expect(stub.values(id, 'shared')).toEqual([
      ['time', 'value', 'n', 'pressure', 'passerelle batch', 'humidity'],
      [expect.any(Number), 'a-0', 0, 1.5, batchId],
      [expect.any(Number), 'b-0', 0, null, batchId, 40],
      [expect.any(Number), 'c-0', 0, 1.6, batchId, 41],
    ]);
  });
});
