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
  /**
   * True when the target shows data it holds unconfirmed (`received()` lists it while acceptance is
   * held): the suite then waits for the batch to reach the target, so a sink that resolves on send
   * is caught by the order of events rather than by a quiet window.
   */
  heldDataVisible?: boolean;
  /**
   * Answers of the target kept back by the hold so far (PUBACKs, HTTP responses held by a proxy, a
   * flush held by a hook). Once one is held the target has accepted data the sink was not told
   * about: the order of events then shows whether write() waited for the answer. Required when the
   * held data is not visible.
   */
  heldAnswers?(): number;
  /**
   * The target goes away (connections dropped, refused) and comes back. Absent for a sink whose
   * target has no outage to recover from (then `noOutage` in the options says why).
   */
  stopTarget?(): Promise<void>;
  startTarget?(): Promise<void>;
}

export interface SinkConformanceOptions {
  /** Why the target can not go away and come back (a local stream): skips the outage tests. */
  noOutage?: string;
}

/** Active handles by type (sockets, timers, file handles...), to see what a sink left open. */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/**
 * Resolves once no type of handle is more numerous than in `before` (a socket's handle goes when its
 * close event ran); rejects with the ones left after the timeout.
 */
export async function expectReleased(before: Map<string, number>, timeoutMs = 10_000): Promise<void> {
  const left = (): string[] => {
    const out: string[] = [];
    for (const [type, n] of activeResources()) {
      const was = before.get(type) ?? 0;
      if (n > was) out.push(`${type} +${n - was}`);
    }
    return out;
  };
  const deadline = Date.now() + timeoutMs;
  while (left().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(left(), 'handles still open after close()').toEqual([]);
}

let counter = 0;
const values = (prefix: string, n: number): string[] => {
  const run = `${prefix}-${Date.now()}-${++counter}`;
  return Array.from({ length: n }, (_, i) => `${run}-${i}`);
};

/**
 * Resolves once the target shows it got part of `sent` while the hold is on (the data, or an answer
 * held back). A harness must show one of them: a quiet window would stand in for the event.
 */
async function heldAtTarget(h: SinkHarness, sent: string[]): Promise<void> {
  if (h.heldDataVisible) {
    await waitFor(async () => {
      const got = await h.received();
      return sent.some((v) => got.includes(v));
    }, 'the batch at the target (held, unconfirmed)');
    return;
  }
  if (!h.heldAnswers)
    throw new Error('the harness shows neither held data (heldDataVisible) nor held answers');
  await waitFor(() => h.heldAnswers!() > 0, 'an answer of the target held back');
}

export function sinkConformance(
  label: string,
  harness: () => SinkHarness,
  options: SinkConformanceOptions = {},
): void {
  const outages = options.noOutage === undefined;
  describe(`sink conformance: ${label}`, () => {
    it('has a way to stop and start its target, or says why it has none', () => {
      const h = harness();
      expect(
        Boolean(h.stopTarget && h.startTarget),
        options.noOutage ?? 'stopTarget/startTarget missing',
      ).toBe(outages);
    });

    it('connects and closes twice, writes after the second connect, and close() releases its handles', async () => {
      const h = harness();
      const before = activeResources();
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
      await expectReleased(before);
    });

    it('resolves write() only once the target accepted the batch', async () => {
      const h = harness();
      const sink = h.create(createFakeContext());
      await sink.connect(AbortSignal.timeout(10_000));
      const sent = values('accept', 50);
      await h.holdAcceptance();
      const write = sink.write(h.messages(sent), AbortSignal.timeout(20_000));
      // Settling is compared with the release, by order of events rather than by a quiet window.
      let released = false;
      let settledWhileHeld = false;
      const mark = (): void => void (settledWhileHeld ||= !released);
      write.then(mark, mark);
      try {
        await heldAtTarget(h, sent);
        // Past the target's receipt, a write that resolved on send would have settled by now.
        await new Promise((r) => setImmediate(r));
        expect(settledWhileHeld, 'write() settled while the target held its acceptance').toBe(false);
      } finally {
        released = true;
        await h.releaseAcceptance();
      }
      await write;
      expect(settledWhileHeld, 'write() settled before the target confirmed').toBe(false);
      await waitFor(async () => {
        const got = new Set(await h.received());
        return sent.every((v) => got.has(v));
      }, 'every value at the target');
      await sink.close();
    });

    // Registered only when the target can go away: a local stream has no outage (noOutage says why).
    if (outages)
      it('throws NotConnectedError at once while the target is down, and works again when it is back', async () => {
        const h = harness();
        const ctx = createFakeContext();
        const sink = h.create(ctx);
        await sink.connect(AbortSignal.timeout(10_000));
        await h.stopTarget!();
        try {
          // Once the sink noticed, a write fails instead of waiting or buffering: it rejects while the
          // target is still down, and long before its own signal would end the wait (no wall-clock
          // bound of a few ms, which a loaded machine breaks; a sink that waits fails here).
          await waitFor(() => ctx.state !== 'connected', 'the sink to notice the outage');
          await expect(
            Promise.race([
              sink.write(h.messages(values('down', 5)), AbortSignal.timeout(60_000)),
              new Promise((resolve) => setTimeout(resolve, 5_000, 'still waiting for the target')),
            ]),
          ).rejects.toBeInstanceOf(NotConnectedError);
        } finally {
          await h.startTarget!();
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

    if (outages)
      it('rejects with NotConnectedError when the connection drops mid-batch', async () => {
        const h = harness();
        const sink = h.create(createFakeContext());
        await sink.connect(AbortSignal.timeout(10_000));
        await h.holdAcceptance();
        const sent = values('mid', 20);
        const write = sink.write(h.messages(sent), AbortSignal.timeout(20_000));
        // Mid-batch: once the target has part of it.
        await heldAtTarget(h, sent);
        await h.stopTarget!();
        try {
          await expect(write).rejects.toBeInstanceOf(NotConnectedError);
        } finally {
          await h.releaseAcceptance();
          await h.startTarget!();
        }
        await sink.close();
      });
  });
}
