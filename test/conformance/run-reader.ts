import { describe, expect, it } from 'vitest';
import type { Message, Run, RunReader, RunWindow } from '../../src/sdk/index.js';
import { createFakeContext, type FakeContext } from './context.js';
import { activeResources, expectReleased } from './sink.js';

/**
 * The behaviour every reader of a scheduled pipeline must have (src/sdk/run.ts): a rerun of the same
 * run gives the same message ids (sinks replace a run's output by them), another run other ids;
 * every message carries its run; a query's messages lie in the window; no empty batch; close is
 * safe twice and releases what connect opened; an aborted read stops.
 */
export interface RunReaderHarness {
  create(ctx: FakeContext): RunReader;
  /** A window with at least `minMessages` messages in it. */
  window: RunWindow;
  /**
   * `window`: messages are timed by the data (a query): each time in [start, end). `snapshot`:
   * timed when read (one read of OPC UA nodes; a simulator sample at the tick), not in the window.
   */
  times: 'window' | 'snapshot';
  minMessages: number;
}

const signal = (): AbortSignal => AbortSignal.timeout(30_000);

let counter = 0;
function runOf(h: RunReaderHarness, id = `conformance-${process.pid}-${++counter}`): Run {
  return {
    id,
    pipeline: 'conformance',
    window: h.window,
    scheduledAt: h.window.end,
    attempt: 1,
    timeZone: 'UTC',
  };
}

async function readAll(reader: RunReader, run: Run): Promise<Message[][]> {
  const batches: Message[][] = [];
  for await (const batch of reader.read(run, signal())) batches.push(batch);
  return batches;
}

export function runReaderConformance(label: string, harness: () => RunReaderHarness): void {
  describe(`${label}: run reader conformance`, () => {
    it('reads a run as non-empty batches; each message carries its run', async () => {
      const h = harness();
      const reader = h.create(createFakeContext());
      await reader.connect(signal());
      try {
        const run = runOf(h);
        const batches = await readAll(reader, run);
        for (const b of batches) expect(b.length).toBeGreaterThan(0);
        const messages = batches.flat();
        expect(messages.length).toBeGreaterThanOrEqual(h.minMessages);
        for (const m of messages) {
          expect(m.meta.run).toEqual({ id: run.id, window: run.window });
          expect(Number.isFinite(m.time)).toBe(true);
          if (h.times === 'window') {
            expect(m.time).toBeGreaterThanOrEqual(run.window.start);
            expect(m.time).toBeLessThan(run.window.end);
          }
        }
      } finally {
        await reader.close();
      }
    });

    it('gives the same ids to a rerun of the same run, other ids to another run', async () => {
      const h = harness();
      const reader = h.create(createFakeContext());
      await reader.connect(signal());
      try {
        const run = runOf(h);
        const first = (await readAll(reader, run)).flat().map((m) => m.id);
        expect(new Set(first).size).toBe(first.length);
        // A retry: same run id, next attempt.
        const again = (await readAll(reader, { ...run, attempt: 2 })).flat().map((m) => m.id);
        expect([...again].sort()).toEqual([...first].sort());
        const other = (await readAll(reader, runOf(h))).flat().map((m) => m.id);
        expect(other.length).toBeGreaterThan(0);
        for (const id of other) expect(first).not.toContain(id);
      } finally {
        await reader.close();
      }
    });

    it('a fresh reader (another replica) gives the same ids for the same run, other ids for another', async () => {
      const h = harness();
      const runA = runOf(h);
      const runB = runOf(h);
      const ids = async (reader: RunReader, run: Run) =>
        (await readAll(reader, run))
          .flat()
          .map((m) => m.id)
          .sort();
      const one = h.create(createFakeContext());
      const two = h.create(createFakeContext());
      await one.connect(signal());
      await two.connect(signal());
      try {
        const a1 = await ids(one, runA);
        // The other replica read another run first: its state (counters, caches) differs.
        const b2 = await ids(two, runB);
        const a2 = await ids(two, runA);
        expect(a2).toEqual(a1);
        for (const id of b2) expect(a1).not.toContain(id);
      } finally {
        await one.close();
        await two.close();
      }
    });

    it('stops reading when the signal aborts', async () => {
      const h = harness();
      const reader = h.create(createFakeContext());
      await reader.connect(signal());
      try {
        // Aborted before the read: no batch.
        const before = new AbortController();
        before.abort(new Error('stopping'));
        const got: Message[][] = [];
        const early = await (async () => {
          for await (const batch of reader.read(runOf(h), before.signal)) got.push(batch);
        })().catch((e: unknown) => e);
        expect(got).toEqual([]);
        expect(early === undefined || early instanceof Error).toBe(true);
        // Aborted after the first batch: nothing more comes.
        const during = new AbortController();
        const it = reader.read(runOf(h), during.signal)[Symbol.asyncIterator]();
        const first = await it.next();
        expect(first.done).toBe(false);
        during.abort(new Error('stopping'));
        const next = await it.next().catch((e: unknown) => e);
        expect(next instanceof Error || (next as IteratorResult<Message[]>).done === true).toBe(true);
        await it.return?.();
        // The reader still works for the next run.
        expect((await readAll(reader, runOf(h))).flat().length).toBeGreaterThanOrEqual(h.minMessages);
      } finally {
        await reader.close();
      }
    });

    it('closes twice, releases what it opened, and connects again after close', async () => {
      const h = harness();
      const before = activeResources();
      const reader = h.create(createFakeContext());
      await reader.close(); // before connect: nothing to do
      await reader.connect(signal());
      expect((await readAll(reader, runOf(h))).flat().length).toBeGreaterThanOrEqual(h.minMessages);
      await reader.close();
      await reader.close();
      await expectReleased(before);
      await reader.connect(signal());
      expect((await readAll(reader, runOf(h))).flat().length).toBeGreaterThanOrEqual(h.minMessages);
      await reader.close();
    });
  });
}
