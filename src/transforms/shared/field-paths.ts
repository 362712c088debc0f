import { z } from 'zod';
import { ANY, parsePathSegments, type PathSegment } from '../../sdk/index.js';

/**
 * Field paths into a message payload, shared by the privacy and unit transforms:
 *
 *   payload                      the whole payload
 *   payload.device.id            nested keys
 *   payload["serial.no"]         a key with dots or other characters
 *   payload.readings[0].value    an array item
 *   payload.devices[*].id        every item of an array (or every value of an object)
 *   payload.*.owner              every value of an object (or every item of an array)
 *
 * Paths are parsed once, when the config is validated. Editing never mutates the input: the
 * containers along the path are copied, everything else is shared.
 */
export { ANY };
export type Segment = PathSegment;

export interface FieldPath {
  /** The path as written in the config, for reasons. */
  text: string;
  /** Segments after `payload`. */
  segments: Segment[];
}

/** Parses a path (the grammar of src/sdk/path.ts); throws an Error with a readable message. */
export function parseFieldPath(text: string): FieldPath {
  const source = text.trim();
  const segments = parsePathSegments(source);
  if (segments[0] !== 'payload')
    throw new Error(
      `"${source}" does not start at the payload: write payload.<field>, e.g. payload.${source}`,
    );
  return { text: source, segments: segments.slice(1) };
}

/** A zod string that must be a field path; the parsed path is what the config holds. */
export function fieldPath(description: string) {
  return z
    .string()
    .min(1)
    .transform((text, ctx) => {
      try {
        return parseFieldPath(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    })
    .describe(description);
}

/** A key name from the config that the transforms assign: `__proto__` would set a prototype instead. */
export function keyName(description: string) {
  return z
    .string()
    .min(1)
    .refine((name) => name !== '__proto__', '"__proto__" can not be used as a key name')
    .describe(description);
}

/** Returned by `found` to remove the key (or the array item). */
export const REMOVE = Symbol('remove');

export interface FieldVisitor {
  /** Called for each value the path reaches; returns the new value, the same value, or REMOVE. */
  found(value: unknown, at: string): unknown;
  /** Called where the path leads to nothing (a key that is not there, or null on the way). */
  missing(at: string): void;
  /**
   * Called where a key named in the path is there but is not an object or array to look into (a
   * string where `payload.owner.name` expects an object). Without it, that counts as missing;
   * privacy transforms reject instead, as the data they look for may be in that value. Items matched
   * by `*` or `[*]` that are not containers count as missing.
   */
  notContainer?(at: string, value: unknown, wanted: string): void;
}

/** A plain JSON container: the transforms look into objects and arrays, never into bytes or class instances. */
export function isContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Visits every value `path` reaches in `root`; returns the edited root (the same object if nothing changed). */
export function editPath(root: unknown, path: FieldPath, visitor: FieldVisitor): unknown {
  return edit(root, path.segments, 0, 'payload', visitor, false);
}

function label(at: string, key: string | number): string {
  if (typeof key === 'number') return `${at}[${key}]`;
  return /^[A-Za-z_$][\w$-]*$/.test(key) ? `${at}.${key}` : `${at}[${JSON.stringify(key)}]`;
}

function edit(
  value: unknown,
  segments: Segment[],
  i: number,
  at: string,
  visitor: FieldVisitor,
  matched: boolean,
): unknown {
  if (i === segments.length) return visitor.found(value, at);
  const segment = segments[i] as Segment;
  if (!isContainer(value)) {
    const wanted = segment === ANY ? `${at}[*]` : label(at, segment);
    // A key named in the path must have the path's shape; an item matched by * may be anything.
    if (value === null || value === undefined || matched || !visitor.notContainer) visitor.missing(wanted);
    else visitor.notContainer(at, value, wanted);
    return value;
  }
  const keys: (string | number)[] =
    segment === ANY ? (Array.isArray(value) ? value.map((_, n) => n) : Object.keys(value)) : [segment];
  let copy: Record<string, unknown> | unknown[] | undefined;
  // Made on the first removal only: most edits remove nothing, and this runs per message.
  let removed: Set<string | number> | undefined;
  for (const key of keys) {
    const here = label(at, key);
    if (!hasOwn(value, key)) {
      visitor.missing(here);
      continue;
    }
    const current = (value as Record<string | number, unknown>)[key];
    const next = edit(current, segments, i + 1, here, visitor, segment === ANY);
    if (next === current) continue;
    if (next === REMOVE) {
      (removed ??= new Set()).add(key);
      continue;
    }
    copy ??= Array.isArray(value) ? value.slice() : copyObject(value);
    (copy as Record<string | number, unknown>)[key] = next;
  }
  if (!removed) return copy ?? value;
  const source = copy ?? value;
  const gone = removed;
  if (Array.isArray(source)) return source.filter((_, n) => !gone.has(n));
  // A fresh object rather than `delete`, which turns V8 objects slow for every later transform.
  return copyObject(source, removed);
}

/**
 * A shallow copy of a plain object, leaving out `skip`. Assignments into a new object (Object.assign
 * or a loop): later transforms add keys to the copy, which is 5-8 times slower on a `{ ...spread }`
 * copy in V8. An own `__proto__` key (JSON.parse makes them) would set the prototype when assigned,
 * so it takes the spread.
 */
export function copyObject(
  source: Record<string, unknown>,
  skip?: ReadonlySet<string | number>,
): Record<string, unknown> {
  if (Object.hasOwn(source, '__proto__')) {
    const copy = { ...source };
    for (const key of skip ?? []) delete copy[key as string];
    return copy;
  }
  const copy: Record<string, unknown> = Object.getPrototypeOf(source) === null ? Object.create(null) : {};
  // Without keys to leave out, Object.assign: its stores are the builtin's own, while the loop's
  // keyed stores below, fed by every transform's objects, turn megamorphic in a relay (callgrind,
  // relay of the bench: ~2,000 instructions less per message for its three copies). It also
  // copies enumerable symbol keys, which no decoded payload or meta has.
  if (skip === undefined) return Object.assign(copy, source);
  // for...in with an own-key check visits what Object.keys lists, in the same order, without the
  // keys array Object.keys allocates per copy (callgrind: ~1,900 instructions a copy of a 6-key
  // object, against ~3,200 with Object.keys and ~2,700 with Object.hasOwn in the loop).
  for (const key in source) if (hasOwnKey.call(source, key) && !skip?.has(key)) copy[key] = source[key];
  return copy;
}

const hasOwnKey = Object.prototype.hasOwnProperty;

function hasOwn(container: Record<string, unknown> | unknown[], key: string | number): boolean {
  if (Array.isArray(container)) return typeof key === 'number' && key < container.length;
  return Object.hasOwn(container, String(key));
}

/** The reason for `notContainer` in the privacy transforms. */
export function notContainerReason(at: string, value: unknown, wanted: string): string {
  return `${at} is ${describeValue(value)}, not an object or array, so ${wanted} can not be looked up in it`;
}

/** Describes a value's type for a reason: `a string`, `an object`, `bytes`, `NaN`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  if (typeof value === 'number') return Number.isFinite(value) ? 'a number' : String(value);
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/** True when the paths look into the payload (not just `payload` itself). */
export function looksInside(paths: readonly FieldPath[]): boolean {
  return paths.some((p) => p.segments.length > 0);
}
