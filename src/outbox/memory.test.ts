import { afterEach, describe, expect, it } from 'vitest';
import {
  defaultRetention,
  makeMessages,
  outboxConformance,
  roundTrips,
  waitFor,
} from '../../test/conformance/outbox.js';
import { RetryableError, messageSize } from '../sdk/index.js';
import { createMemoryBackend } from './memory.js';
import type { BatchPolicy, Outbox, OutboxEvents } from './types.js';

outboxConformance('memory', async (retention) => createMemoryBackend(retention));

describe('memory outbox: a backlog of small jobs', () => {
  const outboxes: Outbox[] = [];
  afterEach(async () => {
    for (const o of outboxes.splice(0)) await o.close(200);
  });

  function setup(batch: BatchPolicy, events?: OutboxEvents) {
    const backend = createMemoryBackend(defaultRetention);
    const outbox = backend.createOutbox({
      pipeline: 'p',
      sink: 'out',
      batch,
      // Retries after a zero-delay timer: roundTrips() lets them back into the line.
      retry: { attempts: 3, initialDelayMs: 0, maxDelayMs: 0 },
      capacity: 100_000,
      concurrency: 1,
      events,
    });
    outboxes.push(outbox);
    return outbox;
  }

  /** Jobs sealed early (a source's window full) while a write is in flight: 3, 3, 3, 5 messages. */
  async function backlog(outbox: Outbox): Promise<{ batches: string[][]; release: () => void }> {
    const batches: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    outbox.start(async (ms) => {
      batches.push(ms.map((m) => m.id));
      if (batches.length === 1) await gate;
    });
    const sealed = (tag: string, n: number) => {
      const stored = outbox.enqueue(makeMessages(n, tag));
      outbox.flushOpen();
      return stored;
    };
    await sealed('a', 3);
    await waitFor(() => batches.length === 1, 10_000, 'the first write');
    await Promise.all([sealed('b', 3), sealed('c', 3), sealed('d', 5)]);
    return { batches, release };
  }

  it('writes the jobs queued behind a write together, in order, up to the batch count', async () => {
    const outbox = setup({ count: 10, bytes: 1_000_000, maxWaitMs: 60_000 });
    const { batches, release } = await backlog(outbox);
    release();
    await waitFor(() => batches.flat().length === 14, 10_000, 'every message written');
    // b and c together (6); d would make 11, over the count of 10.
    expect(batches).toEqual([
      ['a-0', 'a-1', 'a-2'],
      ['b-0', 'b-1', 'b-2', 'c-0', 'c-1', 'c-2'],
      ['d-0', 'd-1', 'd-2', 'd-3', 'd-4'],
    ]);
  });

  it('keeps merged jobs within the batch bytes', async () => {
    const size = messageSize(makeMessages(1, 'b')[0]!);
    const outbox = setup({ count: 100, bytes: size * 7, maxWaitMs: 60_000 });
    const { batches, release } = await backlog(outbox);
    release();
    await waitFor(() => batches.flat().length === 14, 10_000, 'every message written');
    expect(batches.map((b) => b.length)).toEqual([3, 6, 5]);
  });

  it('never merges a job attempted already with new ones: its attempts count on', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const batches: string[][] = [];
    // While `a` waits for its retry, `b` is written (and held), so `a` comes back behind it.
    const outbox = setup(
      { count: 10, bytes: 1_000_000, maxWaitMs: 60_000 },
      { retrying: () => void sealed('b', 3) },
    );
    const sealed = (tag: string, n: number) => {
      const stored = outbox.enqueue(makeMessages(n, tag));
      outbox.flushOpen();
      return stored;
    };
    outbox.start(async (ms) => {
      batches.push(ms.map((m) => m.id));
      if (batches.length === 1) throw new RetryableError('InfluxDB is busy');
      if (ms[0]!.id === 'b-0') await gate;
    });
    await sealed('a', 3);
    await waitFor(() => batches.length === 2, 10_000, 'the write of b');
    await roundTrips(outbox);
    await sealed('c', 3);
    release();
    await waitFor(() => batches.flat().length === 12, 10_000, 'every message written');
    expect(batches.map((b) => b[0]!.slice(0, 1) + b.length)).toEqual(['a3', 'b3', 'a3', 'c3']);
  });
});

/** An outbox of jobs of 3 (held open for a minute unless sealed) for the close tests. */
function outboxOfThrees(events?: OutboxEvents): Outbox {
  return createMemoryBackend(defaultRetention).createOutbox({
    pipeline: 'p',
    sink: 'out',
    batch: { count: 3, bytes: 1_000_000, maxWaitMs: 60_000 },
    retry: { attempts: 3, initialDelayMs: 0, maxDelayMs: 0 },
    capacity: 100_000,
    concurrency: 1,
    events,
  });
}

/** Enqueues and seals `n` messages, resolved once stored. */
async function stored(outbox: Outbox, n: number, tag: string): Promise<void> {
  const done = outbox.enqueue(makeMessages(n, tag));
  outbox.flushOpen();
  await done;
}

describe('memory outbox: close', () => {
  it('writes the jobs queued behind the active one before closing, within the deadline', async () => {
    // A graceful stop: what the source had acknowledged as stored sits in this process only, so
    // close() keeps writing the queue until it is empty or the deadline passes, not only the active job.
    const outbox = outboxOfThrees();
    const written: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    outbox.start(async (ms) => {
      if (written.length === 0) await gate;
      written.push(...ms.map((m) => m.id));
    });
    // Three jobs of three: one active (held by the gate), two queued behind it.
    await outbox.enqueue(makeMessages(9, 'q'));
    const closed = outbox.close(60_000);
    release();
    await closed;
    expect(written).toEqual(makeMessages(9, 'q').map((m) => m.id));
    expect((await outbox.stats()).depth).toBe(0);
  });
});

describe('memory outbox: messages lost at close', () => {
  it('reports the messages it could not write through the `lost` event', async () => {
    // A stop with the sink unreachable: the queue exists in this process only, so what it still
    // holds is lost; the event lets the engine count it (passerelle_messages_dropped_total).
    const lost: [number, string][] = [];
    const outbox = outboxOfThrees({ lost: (n, reason) => lost.push([n, reason]) });
    outbox.setConnected(false);
    outbox.start(async () => undefined);
    await stored(outbox, 7, 'l');
    await outbox.close(50);
    expect(lost).toEqual([[7, 'memory outbox closed before writing them']]);
  });

  it('reports nothing when the queue was written', async () => {
    const lost: number[] = [];
    const outbox = outboxOfThrees({ lost: (n) => lost.push(n) });
    outbox.start(async () => undefined);
    await stored(outbox, 7, 'w');
    await outbox.close(60_000);
    expect(lost).toEqual([]);
  });
});
