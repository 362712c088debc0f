import canonicalize from 'canonicalize';

/**
 * RFC 8785 canonical JSON. The `canonicalize` package is the reference; this walks plain JSON
 * (what a decoded payload is) in a third of its time, with the same rules: keys sorted by UTF-16
 * code units (Array.prototype.sort), strings and numbers as JSON.stringify writes them (ECMAScript's
 * Number-to-String, which RFC 8785 adopts), keys with an undefined value left out. Anything else —
 * toJSON(), class instances, bytes, undefined in an array, non-finite numbers, BigInt, deep nesting
 * or cycles — goes to `canonicalize` whole, so results and errors are the package's. A property
 * test compares the two on random JSON.
 */
export function canonicalJson(value: unknown, without?: string): string | undefined {
  const fast = walk(value, 0, without);
  if (fast !== undefined) return fast;
  if (without !== undefined && isPlainObject(value) && Object.hasOwn(value, without))
    return canonicalize({ ...value, [without]: undefined });
  return canonicalize(value);
}

const MAX_DEPTH = 64;

// Characters JSON.stringify escapes: quote, backslash, controls, and surrogates (a lone one is escaped).
// eslint-disable-next-line no-control-regex -- control characters are exactly what JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify(text), without its cost for the common text that has nothing to escape. */
function quote(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The canonical text, or undefined when the value needs the package. */
function walk(value: unknown, depth: number, without?: string): string | undefined {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      // String() of a finite number is JSON.stringify()'s text (both ECMAScript's Number::toString).
      return Number.isFinite(value) ? String(value) : undefined;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value === null) return 'null';
  if (depth > MAX_DEPTH) return undefined;
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item = walk(value[i], depth + 1);
      if (item === undefined) return undefined;
      out += i === 0 ? item : `,${item}`;
    }
    return `${out}]`;
  }
  if (!isPlainObject(value) || typeof value.toJSON === 'function') return undefined;
  const order = keyOrderOf(value, depth, without);
  let out = '{';
  let first = true;
  const { sorted, withComma } = order;
  for (let i = 0; i < sorted.length; i++) {
    const v = value[sorted[i] as string];
    if (v === undefined || typeof v === 'symbol') continue;
    const item = walk(v, depth + 1);
    if (item === undefined) return undefined;
    out += first ? (withComma[i] as string).slice(1) + item : (withComma[i] as string) + item;
    first = false;
  }
  return `${out}}`;
}

/**
 * The sorted keys of an object shape, and each key's `,"key":` text. Made once per shape: the
 * messages of a stream share their shapes, and sorting and quoting the same keys again for every
 * message was a third of checksum's time.
 */
interface KeyOrder {
  /** Object.keys() of the object it was made for, in insertion order. */
  keys: string[];
  without: string | undefined;
  /** The keys to write, sorted by UTF-16 code units, `without` left out. */
  sorted: string[];
  withComma: string[];
}

// One remembered shape per depth (the top level, then its objects...): a payload's objects at one
// depth are often alike (an array of readings); a shape that differs replaces the one remembered.
const MAX_REMEMBERED_DEPTH = 8;
const remembered: (KeyOrder | undefined)[] = [];
const hasOwnKey = Object.prototype.hasOwnProperty;

function keyOrderOf(value: Record<string, unknown>, depth: number, without: string | undefined): KeyOrder {
  const known = depth < MAX_REMEMBERED_DEPTH ? remembered[depth] : undefined;
  if (known !== undefined && known.without === without && sameKeys(value, known.keys)) return known;
  const keys = Object.keys(value);
  const sorted = keys.filter((key) => key !== without).sort();
  const order: KeyOrder = { keys, without, sorted, withComma: sorted.map((key) => `,${quote(key)}:`) };
  if (depth < MAX_REMEMBERED_DEPTH) remembered[depth] = order;
  return order;
}

/**
 * True when the object's own enumerable keys are `keys`, in that order. for...in lists own keys
 * first (as Object.keys does) then inherited enumerable ones, which the own-key check refuses; no
 * keys array is made per message.
 */
function sameKeys(value: Record<string, unknown>, keys: readonly string[]): boolean {
  let i = 0;
  for (const key in value) {
    if (key !== keys[i] || !hasOwnKey.call(value, key)) return false;
    i++;
  }
  return i === keys.length;
}
