import { createHash } from 'node:crypto';

/**
 * The report-by-exception decision, shared by the in-memory state and (as Lua, in redis-state.ts)
 * the Redis state: both must give the same answers, and the tests run the same cases on both.
 */

/** One compared value: a number, or the text of anything else (`null`, strings, objects). */
export type Observed = { n: number } | { x: string };

/** What is remembered per key: the last values passed, their status, and when. */
export interface KeyState {
  /** Message time of the last value passed, ms. */
  t: number;
  /** JSON of the status values of the last value passed. */
  s: string;
  /** Per field path, the last value passed. */
  v: Record<string, Observed>;
}

export interface Observation {
  time: number;
  status: string;
  /** Per field path; a missing field is absent. */
  values: Record<string, Observed>;
}

export interface Band {
  absolute?: number | undefined;
  percent?: number | undefined;
  maxSilenceMs: number;
}

/** Long texts are remembered by their hash: the state per key stays small. */
const LONG_TEXT = 256;

/** See the comparison below; the Redis script uses the same factor. */
export const BAND_TOLERANCE = 1 + 1e-9;

export function observedText(text: string): Observed {
  return {
    x: text.length > LONG_TEXT ? `sha256:${createHash('sha256').update(text).digest('base64')}` : text,
  };
}

/** True when the observation must pass; the caller then stores `next(state, observation)`. */
export function passes(state: KeyState | undefined, o: Observation, band: Band): boolean {
  if (!state) return true;
  if (o.status !== state.s) return true;
  if (band.maxSilenceMs > 0 && o.time - state.t >= band.maxSilenceMs) return true;
  for (const path in o.values) {
    const now = o.values[path]!;
    const before = state.v[path];
    if (!before) return true;
    if ('n' in now && 'n' in before) {
      const limit =
        band.percent !== undefined ? (Math.abs(before.n) * band.percent) / 100 : (band.absolute ?? 0);
      // A change exactly equal to the band must not pass because of binary rounding
      // (21.3 - 21.1 = 0.20000000000000284): the band gets a relative tolerance of 1e-9.
      if (Math.abs(now.n - before.n) > limit * BAND_TOLERANCE) return true;
    } else if ('n' in now || 'n' in before || now.x !== before.x) return true;
  }
  return false;
}

/** The state after an observation passed: fields missing from it keep their last value. */
export function next(state: KeyState | undefined, o: Observation): KeyState {
  return { t: o.time, s: o.status, v: state ? { ...state.v, ...o.values } : { ...o.values } };
}
