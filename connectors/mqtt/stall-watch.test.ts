import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { STALL_QUIET_MS, StallWatch } from './stall-watch.js';

const QUIET = STALL_QUIET_MS;

describe('StallWatch', () => {
  let held = 0;
  let stalls = 0;
  let watch: StallWatch;
  beforeEach(() => {
    vi.useFakeTimers();
    held = 0;
    stalls = 0;
    watch = new StallWatch(
      () => held,
      () => stalls++,
      QUIET,
      () => Date.now(),
    );
  });
  afterEach(() => {
    watch.stop();
    vi.useRealTimers();
  });

  const arrive = (n: number): void => {
    for (let i = 0; i < n; i++) {
      held++;
      watch.arrived();
    }
  };
  /** The batch is stored (by the sinks' maxWait, or after a report): the acks go out. */
  const release = (): void => {
    held = 0;
    watch.released();
  };
  /** A broker with a limit of 20 and more to send: 20 arrive, a pause, the acks go out (maxWait). */
  const firstStall = (): void => {
    arrive(20);
    vi.advanceTimersByTime(3 * QUIET);
    release();
  };

  it('reports nothing at first: a pause alone may be a slow publisher', () => {
    arrive(20);
    vi.advanceTimersByTime(100 * QUIET);
    expect(stalls).toBe(0);
    expect(vi.getTimerCount()).toBe(0); // waits for the sinks' maxWait, no timer meanwhile
  });

  it('learns the limit from the answer to its acknowledgements, then reports the next stall', () => {
    firstStall();
    vi.advanceTimersByTime(40); // Nagle: the answer trickles in
    arrive(20);
    expect(watch.limit).toBe(20);
    vi.advanceTimersByTime(QUIET);
    expect(stalls).toBe(0); // the first check only notes the arrivals
    vi.advanceTimersByTime(QUIET);
    expect(stalls).toBe(1);
  });

  it('does not learn from a slow answer (a publisher at its own pace)', () => {
    firstStall();
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(20);
      arrive(1); // 50 a second
    }
    expect(watch.limit).toBe(0);
    vi.advanceTimersByTime(100 * QUIET);
    expect(stalls).toBe(0);
  });

  it('forgets the limit when a later answer comes late (the backlog is gone)', () => {
    firstStall();
    arrive(20);
    vi.advanceTimersByTime(2 * QUIET);
    expect(stalls).toBe(1);
    release();
    vi.advanceTimersByTime(500);
    arrive(3);
    expect(watch.limit).toBe(0);
    vi.advanceTimersByTime(100 * QUIET);
    expect(stalls).toBe(1);
  });

  it('reports only pauses with at least half the limit held', () => {
    firstStall();
    arrive(20);
    vi.advanceTimersByTime(2 * QUIET);
    expect(stalls).toBe(1);
    release();
    arrive(9); // then a pause with fewer than 10 held: a slow moment, not the broker's limit
    vi.advanceTimersByTime(100 * QUIET);
    expect(stalls).toBe(1);
  });

  it('does not report while messages keep arriving', () => {
    firstStall();
    for (let i = 0; i < 50; i++) {
      arrive(1);
      vi.advanceTimersByTime(QUIET / 2);
    }
    expect(stalls).toBe(0);
  });

  it('sleeps once everything is acknowledged: no timer while idle', () => {
    firstStall();
    arrive(20);
    held = 0;
    vi.advanceTimersByTime(QUIET);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10 * QUIET);
    expect(stalls).toBe(0);
  });

  it('reports again at growing intervals while the stall lasts, and starts over on the next arrival', () => {
    firstStall();
    arrive(20);
    vi.advanceTimersByTime(2 * QUIET);
    expect(stalls).toBe(1);
    vi.advanceTimersByTime(2 * QUIET);
    expect(stalls).toBe(2);
    vi.advanceTimersByTime(4 * QUIET);
    expect(stalls).toBe(3);
    vi.advanceTimersByTime(10_000);
    expect(stalls).toBeLessThan(20); // at most one a second once it has lasted
    const before = stalls;
    release();
    arrive(20); // at once: the broker still holds messages back
    vi.advanceTimersByTime(2 * QUIET);
    expect(stalls).toBe(before + 1);
  });

  it('stop() clears its timer', () => {
    arrive(1);
    watch.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
