/**
 * A copy of a message value that is safe to show: at most `maxDepth` levels and about `maxBytes`
 * of JSON, built without recursion, so a payload nested thousands of levels deep or megabytes
 * large renders as a short preview instead of overflowing the stack. The copy holds only JSON
 * values: bytes become `{ bytes, base64 }` (base64 of a prefix), bigints become strings, what JSON
 * drops (undefined, functions, symbols) is left out. What is cut is marked in the copy itself.
 */
export interface CopyLimits {
  /** Containers deeper than this are replaced by a marker string. */
  maxDepth: number;
  /** Approximate JSON size of the copy; past it the rest of every open container is summarised. */
  maxBytes: number;
  /** Longest string kept (longer ones are cut, with the number of characters left out). Default 1000. */
  maxString?: number;
}

export const OMITTED_KEY = '…';

type Container = unknown[] | Record<string, unknown>;

interface Frame {
  source: unknown[] | Record<string, unknown>;
  keys: string[] | undefined;
  index: number;
  target: Container;
  depth: number;
}

function isArrayLike(value: object): value is unknown[] {
  return Array.isArray(value);
}

export function boundedCopy(value: unknown, limits: CopyLimits): unknown {
  const maxString = limits.maxString ?? 1000;
  let budget = limits.maxBytes;

  const leaf = (v: unknown): { ok: true; value: unknown } | { ok: false } => {
    switch (typeof v) {
      case 'string': {
        const room = Math.max(0, Math.min(maxString, budget - 2));
        if (v.length <= room) {
          budget -= v.length + 2;
          return { ok: true, value: v };
        }
        budget -= room + 2;
        return { ok: true, value: `${v.slice(0, room)}… (${v.length - room} more characters)` };
      }
      case 'number':
        budget -= 8;
        return { ok: true, value: Number.isFinite(v) ? v : null };
      case 'boolean':
        budget -= 5;
        return { ok: true, value: v };
      case 'bigint':
        budget -= 20;
        return { ok: true, value: v.toString() };
      case 'undefined':
      case 'function':
      case 'symbol':
        return { ok: false };
      default:
        if (v === null) {
          budget -= 4;
          return { ok: true, value: null };
        }
        if (v instanceof Uint8Array) {
          const keep = Math.max(0, Math.min(v.byteLength, Math.floor((Math.min(maxString, budget) * 3) / 4)));
          budget -= 40 + Math.ceil(keep / 3) * 4;
          const base64 = Buffer.from(v.buffer, v.byteOffset, keep).toString('base64');
          return {
            ok: true,
            value:
              keep < v.byteLength
                ? { bytes: v.byteLength, base64, truncated: true }
                : { bytes: v.byteLength, base64 },
          };
        }
        if (v instanceof Date) {
          budget -= 26;
          return { ok: true, value: Number.isNaN(v.getTime()) ? null : v.toISOString() };
        }
        return { ok: true, value: undefined };
    }
  };

  const open = (v: object, depth: number): Frame => {
    const array = isArrayLike(v);
    const source = v as unknown[] | Record<string, unknown>;
    budget -= 2;
    return {
      source,
      keys: array ? undefined : Object.keys(source),
      index: 0,
      target: array ? [] : {},
      depth,
    };
  };

  const deeper = `… nested deeper than ${limits.maxDepth} levels`;
  const first = leaf(value);
  if (!first.ok) return undefined;
  if (first.value !== undefined) return first.value;
  if (limits.maxDepth < 1) return deeper;

  const root = open(value as object, 1);
  const stack: Frame[] = [root];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as Frame;
    const length = frame.keys ? frame.keys.length : (frame.source as unknown[]).length;
    if (frame.index >= length) {
      stack.pop();
      continue;
    }
    if (budget <= 0) {
      // Out of room: every open container says how much of it was left out.
      for (const f of stack) {
        const left = (f.keys ? f.keys.length : (f.source as unknown[]).length) - f.index;
        if (left <= 0) continue;
        if (Array.isArray(f.target)) f.target.push(`… ${left} more items`);
        else f.target[OMITTED_KEY] = `${left} more keys`;
      }
      break;
    }
    const key = frame.keys ? (frame.keys[frame.index] as string) : undefined;
    frame.index++;
    const child =
      key === undefined
        ? (frame.source as unknown[])[frame.index - 1]
        : (frame.source as Record<string, unknown>)[key];
    if (key !== undefined) budget -= key.length + 4;
    let out: unknown;
    const simple = leaf(child);
    if (!simple.ok) {
      if (key !== undefined) continue;
      out = null; // as JSON.stringify does in arrays
    } else if (simple.value !== undefined) {
      out = simple.value;
    } else if (frame.depth >= limits.maxDepth) {
      budget -= deeper.length;
      out = deeper;
    } else {
      const next = open(child as object, frame.depth + 1);
      out = next.target;
      stack.push(next);
    }
    if (key === undefined) (frame.target as unknown[]).push(out);
    else defineKey(frame.target as Record<string, unknown>, key, out);
  }
  return root.target;
}

/** Sets a key as an own data property, so `__proto__` from parsed JSON stays a plain key. */
function defineKey(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
