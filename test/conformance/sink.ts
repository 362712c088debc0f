import { describe, expect, it } from 'vitest';
import { NotConnectedError, type Message, type Sink } from '../../src/sdk/index.js';
import { createFakeContext, waitFor, type FakeContext } from './context.js';

/**
 * The behaviour every sink must have (docs/architecture.md, "Conformance suites"): connect/close twice, `write()` resolves only
 * once the target accepted the batch, NotConnectedError at once while the target is down, and
 * working again once it is back.
 */
export interface SinkHarness {
  create(ctx: FakeContext): Sink;
  /** Messages carrying these values, for `write()`. */
  messages(values: string[]): Message[];
  /** The values the target has accepted so far, in arrival order. */
  received(): Promise<string[]>;
  /** The target keeps the data but stops confirming it (e.g. acknowledgements held by a proxy). */
  holdAcceptance(): Promise<void>;
  releaseAcceptance(): Promise<void>;
  /** The target goes away (connections dropped, refused) and comes back. */
  stopTarget(): Promise<void>;
  startTarget(): Promise<void>;
}

let counter = 0;
const values = (prefix: string, n: number): string[] => {
  const run = `${prefix}-${Date.now()}-${++counter}`;
  return Array.from({ length: n }, (_, i) => `${run}-${i}`);
};

async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setTimeout(r, ms));
  return settled;
}

export function sinkConformance(label: string, harness: () => SinkHarness): void {
  describe(`sink conformance: ${label}`, () => {
    it('connects and closes twice, and writes after the second connect', async () => {
      const h = harness();
      const sink = h.create(createFakeContext());
      await sink.connect(AbortSignal.timeout(10_000));
      await sink.close();
      await sink.connect(AbortSignal.timeout(10_000));
      const sent = values('twice', 3);
      await sink.write(h.messages(sent), AbortSignal.timeout(10_000));
      await waitFor(async () => {
        const got = new Set(await h.received());
        return sent.every((v) => got.has(v));
      }, 'the values at the target');
      await sink.close();
      await sink.close();
    });

    it('resolves write() only once the target accepted the batch', async () => {
      const h = harness();
      const sink = h.create(createFakeContext());
      await sink.connect(AbortSignal.timeout(10_000));
      const sent = values('accept', 50);
      await h.holdAcceptance();
      const write = sink.write(h.messages(sent), AbortSignal.timeout(20_000));
      try {
        expect(await settledWithin(write, 500)).toBe(false);
      } finally {
        await h.releaseAcceptance();
      }
      await write;
      await waitFor(async () => {
        const got = new Set(await h.received());
        return sent.every((v) => got.has(v));
      }, 'every value at the target');
      await sink.close();
    });

    it('throws NotConnectedError at once while the target is down, and works again when it is back', async () => {
      const h = harness();
      const ctx = createFakeContext();
      const sink = h.create(ctx);
      await sink.connect(AbortSignal.timeout(10_000));
      await h.stopTarget();
      try {
        // Once the sink noticed, a write fails fast instead of waiting or buffering.
        await waitFor(() => ctx.state !== 'connected', 'the sink to notice the outage');
        const started = Date.now();
        await expect(
          sink.write(h.messages(values('down', 5)), AbortSignal.timeout(10_000)),
        ).rejects.toBeInstanceOf(NotConnectedError);
        expect(Date.now() - started).toBeLessThan(200);
      } finally {
        await h.startTarget();
      }
      const sent = values('back', 5);
      await waitFor(
        async () => {
          try {
            await sink.write(h.messages(sent), AbortSignal.timeout(5_000));
            return true;
          } catch (error) {
            if (!(error instanceof NotConnectedError)) throw error;
            return false;
          }
        },
        'a write to succeed after the target came back',
        20_000,
        100,
      );
      await waitFor(async () => {
        const got = new Set(await h.received());
        return sent.every((v) => got.has(v));
      }, 'the values written after the outage');
      await sink.close();
    });

    it('rejects with NotConnectedError when the connection drops mid-batch', async () => {
      const h = harness();
      const sink = h.create(createFakeContext());
      await sink.connect(AbortSignal.timeout(10_000));
      await h.holdAcceptance();
      const write = sink.write(h.messages(values('mid', 20)), AbortSignal.timeout(20_000));
      await new Promise((r) => setTimeout(r, 200));
      await h.stopTarget();
      try {
        await expect(write).rejects.toBeInstanceOf(NotConnectedError);
      } finally {
        await h.releaseAcceptance();
        await h.startTarget();
      }
      await sink.close();
    });
  });
}
