import { performance } from 'node:perf_hooks';

/**
 * A wall clock in milliseconds since the epoch with a microsecond fraction, for stamping the time a
 * message was received. Within one clock every reading is at least 1 µs after the previous one, so
 * two messages never share a time (InfluxDB merges points of one series with the same timestamp).
 *
 * - The fraction comes from the monotonic high-resolution timer; the reading is kept within
 *   [Date.now(), Date.now() + 1 ms), so it follows the system clock (NTP adjustments included).
 * - More than 1,000 readings in one millisecond run ahead of the wall clock by 1 µs each, and the
 *   clock comes back to it as soon as the wall clock passes the last reading.
 * - When the system clock is set back by more than `maxStepBackMs`, the clock follows it (the
 *   earlier readings were wrong); a smaller step back is absorbed by the 1 µs rule.
 */
export interface ReceptionClockOptions {
  /** Whole milliseconds since the epoch (default Date.now). */
  wallClock?: () => number;
  /** High-resolution milliseconds since `origin` (default performance.now). */
  monotonic?: () => number;
  /** Wall time of the monotonic timer's zero (default performance.timeOrigin). */
  origin?: number;
  /** Default 1000. */
  maxStepBackMs?: number;
}

export type ReceptionClock = () => number;

export function createReceptionClock(options: ReceptionClockOptions = {}): ReceptionClock {
  const wallClock = options.wallClock ?? Date.now;
  const monotonic = options.monotonic ?? (() => performance.now());
  const originUs = Math.round((options.origin ?? performance.timeOrigin) * 1000);
  const maxStepBackUs = (options.maxStepBackMs ?? 1000) * 1000;
  // Integers in microseconds: 1.7e15 today, exact in a double until the year 2255.
  let correctionUs = 0;
  let lastUs = -Infinity;
  let lastWallUs = -Infinity;
  return () => {
    const wallUs = wallClock() * 1000;
    if (wallUs < lastWallUs - maxStepBackUs) lastUs = -Infinity;
    lastWallUs = wallUs;
    let us = originUs + Math.round(monotonic() * 1000) + correctionUs;
    if (us < wallUs || us >= wallUs + 1000) {
      const target = us < wallUs ? wallUs : wallUs + 999;
      correctionUs += target - us;
      us = target;
    }
    if (us <= lastUs) us = lastUs + 1;
    lastUs = us;
    return us / 1000;
  };
}

/**
 * The process-wide reception clock: the default `time` of `createMessage`, and what every source
 * uses to stamp the time it received a message.
 */
export const receptionTime: ReceptionClock = createReceptionClock();
