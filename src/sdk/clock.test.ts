import { describe, expect, it } from 'vitest';
import { createReceptionClock, receptionTime } from './clock.js';
import { createMessage } from './message.js';

const micros = (t: number): number => Math.round(t * 1000);

/** A clock driven by hand: wall time in whole ms, the monotonic timer in fractional ms. */
function manual(start: { wall: number; mono: number; origin: number }) {
  const state = { ...start };
  const clock = createReceptionClock({
    wallClock: () => state.wall,
    monotonic: () => state.mono,
    origin: state.origin,
  });
  return { state, clock };
}

describe('the reception clock', () => {
  it('is strictly increasing and unique over 1,000,000 readings, on whole microseconds', () => {
    const n = 1_000_000;
    // Its own clock: a million readings in well under a second run ahead of the wall clock.
    const clock = createReceptionClock();
    let previous = clock();
    let decreasing = 0;
    let offGrid = 0;
    for (let i = 0; i < n; i++) {
      const t = clock();
      if (!(t > previous) || micros(t) - micros(previous) < 1) decreasing++;
      if (micros(t) / 1000 !== t) offGrid++;
      previous = t;
    }
    expect({ decreasing, offGrid }).toEqual({ decreasing: 0, offGrid: 0 });
  });

  it('stays within a millisecond of Date.now()', async () => {
    const clock = createReceptionClock();
    const misses: string[] = [];
    for (let i = 0; i < 200; i++) {
      const before = Date.now();
      const t = clock();
      const after = Date.now();
      // At most i µs ahead: the readings before this one may have run ahead by 1 µs each.
      if (t < before || t >= after + 1 + i / 1000) misses.push(`${before} <= ${t} < ${after + 1}`);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(misses).toEqual([]);
  });

  it('is the default time of createMessage', () => {
    const before = receptionTime();
    const a = createMessage({ id: 'a', payload: 1 });
    const b = createMessage({ id: 'b', payload: 1 });
    const after = receptionTime();
    expect([before < a.time, a.time < b.time, b.time < after]).toEqual([true, true, true]);
    expect(Math.abs(a.time - Date.now())).toBeLessThan(1000);
    expect(createMessage({ id: 'c', payload: 1, time: 5 }).time).toBe(5);
  });
});

describe('createReceptionClock', () => {
  it('takes the fraction from the monotonic timer', () => {
    const { state, clock } = manual({ wall: 1_700_000_000_123, mono: 0.25, origin: 1_700_000_000_123 });
    expect(clock()).toBe(1_700_000_000_123.25);
    state.mono = 0.75;
    expect(clock()).toBe(1_700_000_000_123.75);
    state.mono = 1.5;
    state.wall = 1_700_000_000_124;
    expect(clock()).toBe(1_700_000_000_124.5);
  });

  it('gives readings in the same microsecond distinct times, 1 µs apart', () => {
    const { clock } = manual({ wall: 1000, mono: 0.5, origin: 1000 });
    expect([clock(), clock(), clock()].map(micros)).toEqual([1_000_500, 1_000_501, 1_000_502]);
  });

  it('follows the wall clock when the monotonic timer drifts from it', () => {
    const { state, clock } = manual({ wall: 1000, mono: 0, origin: 1000 });
    clock();
    // The monotonic timer runs 5 ms slow over a second: the reading is pulled up to Date.now().
    state.mono = 995.2;
    state.wall = 2000;
    expect(clock()).toBe(2000);
    state.mono = 995.7;
    expect(clock()).toBe(2000.5);
    // ... and 5 ms fast: pulled down to the last microsecond of Date.now()'s millisecond.
    state.mono = 2005.3;
    state.wall = 3000;
    expect(clock()).toBe(3000.999);
    state.mono = 2005.5;
    state.wall = 3001;
    expect(clock()).toBe(3001.199);
  });

  it('absorbs a small step back of the system clock and follows a large one', () => {
    const { state, clock } = manual({ wall: 10_000, mono: 0.5, origin: 10_000 });
    const first = clock();
    state.wall = 9_990;
    state.mono = 0.6;
    const afterSmallStep = clock();
    expect(micros(afterSmallStep)).toBe(micros(first) + 1);
    state.wall = 9_991;
    expect(micros(clock())).toBe(micros(first) + 2);
    state.wall = 9_990 - 3_600_000;
    expect(clock()).toBeLessThan(first - 3_599_000);
  });
});
