import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { STALL_QUIET_MS, StallWatch } from './stall-watch.js';

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

  it('reports once nothing has arrived for the quiet time while acknowledgements are held', () => {
    arrive(20);
    vi.advanceTimersByTime(STALL_QUIET_MS);
    expect(stalls).toBe(0); // the first check only notes the arrivals
    vi.advanceTimersByTime(STALL_QUIET_MS);
    expect(stalls).toBe(1);
  });

  it('does not report while messages keep arriving', () => {
    for (let i = 0; i < 50; i++) {
      arrive(1);
      vi.advanceTimersByTime(STALL_QUIET_MS / 2);
    }
    expect(stalls).toBe(0);
  });

  it('sleeps once everything is acknowledged: no timer while idle', () => {
    arrive(5);
    held = 0;
    vi.advanceTimersByTime(STALL_QUIET_MS);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10 * STALL_QUIET_MS);
    expect(stalls).toBe(0);
  });

  it('reports again at growing intervals while the stall lasts, and starts over on the next arrival', () => {
    arrive(3);
    vi.advanceTimersByTime(2 * STALL_QUIET_MS);
    expect(stalls).toBe(1);
    vi.advanceTimersByTime(2 * STALL_QUIET_MS);
    expect(stalls).toBe(2);
    vi.advanceTimersByTime(4 * STALL_QUIET_MS);
    expect(stalls).toBe(3);
    vi.advanceTimersByTime(10_000);
    expect(stalls).toBeLessThan(20); // at most one a second once it has lasted
    const before = stalls;
    held = 0; // stored and acknowledged: the broker sends more
    arrive(1);
    vi.advanceTimersByTime(2 * STALL_QUIET_MS);
    expect(stalls).toBe(before + 1);
  });

  it('stop() clears its timer', () => {
    arrive(1);
    watch.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
