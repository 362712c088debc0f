import type { RawIssue } from './issues.js';
import type { PathSegment } from './schema-walk.js';

/**
 * Puts keys under their current name (`renamed`: former name to current name), so a config
 * written for an earlier version loads as before. Each former name gives a warning at its key;
 * both names at once are an issue (which one was meant is unknown). Returns a new object, in the
 * same key order.
 */
export function applyRenames(
  value: Record<string, unknown>,
  renamed: Readonly<Record<string, string>> | undefined,
  at: readonly PathSegment[],
  issues: RawIssue[],
  warnings: RawIssue[],
  /** Told of each key moved, so what is known by path (interpolated values) can follow it. */
  moved?: (from: PathSegment[], to: PathSegment[]) => void,
): Record<string, unknown> {
  if (!renamed) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const current = Object.hasOwn(renamed, key) ? renamed[key]! : undefined;
    if (current === undefined) {
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      continue;
    }
    if (Object.hasOwn(value, current)) {
      issues.push({
        path: [...at, key],
        atKey: true,
        message: `${key} is the former name of ${current}, which is set too: remove ${key}`,
      });
      continue;
    }
    warnings.push({
      path: [...at, key],
      atKey: true,
      message: `${key} is deprecated: rename it to ${current} (same meaning; the old name still works for now)`,
    });
    Object.defineProperty(out, current, { value: v, enumerable: true, writable: true, configurable: true });
    moved?.([...at, key], [...at, current]);
  }
  return out;
}
