import jsonata from 'jsonata';
import type { Message } from '../../sdk/index.js';
import { envelopeOf } from '../jsonata.js';

/**
 * JSONata for the map transform. The expression is evaluated against the message envelope
 * `{ payload, meta, id, time }` (as in Node-RED, `payload.temperature`), with `$meta`, `$id` and
 * `$time` bound too; see src/transforms/jsonata.ts. Expressions are parsed once; the text is never
 * turned into JavaScript.
 */
export interface CompiledExpression {
  /** The value, or a promise of it when JSONata itself evaluates; throws or rejects on errors. */
  evaluate(message: Message): unknown;
  /** True when the expression is simple enough (paths, literals, object of those) for the fast path. */
  readonly fast: boolean;
  readonly source: string;
}

export interface CompileOptions {
  /** Longest time one evaluation may take, in milliseconds (an infinite recursion stops here). */
  timeoutMs: number;
}

export function compileExpression(source: string, options: CompileOptions): CompiledExpression {
  const expression = jsonata(source, { timeout: options.timeoutMs });
  const fast = compileFast(expression.ast() as unknown as Node);
  const slow = (message: Message): Promise<unknown> =>
    expression.evaluate(envelopeOf(message), { meta: message.meta, id: message.id, time: message.time });
  if (!fast) return { evaluate: slow, fast: false, source };
  return {
    fast: true,
    source,
    evaluate(message) {
      const value = fast(message);
      return value === FALLBACK ? slow(message) : value;
    },
  };
}

// ---- fast path ------------------------------------------------------------------------------
// JSONata's evaluator is async and costs several µs per message even for `payload.value`; renaming
// and extracting fields are the common maps, so paths, literals and object constructors of those
// run as plain property reads. Whenever the data is not plain (an array on the way: JSONata would
// map over it), the fast path answers FALLBACK and JSONata evaluates, so results always agree.
// The envelope is only built for `$`: a first step `payload` (or meta, id, time) reads the message.

const FALLBACK = Symbol('fallback');
type Fast = (message: Message) => unknown;
/** The parts of JSONata's AST the fast path reads. */
interface Node {
  type: string;
  value?: unknown;
  [key: string]: unknown;
}

function hasOnly(node: object, keys: readonly string[]): boolean {
  return Object.keys(node).every((k) => keys.includes(k));
}

const LEAF = ['type', 'value', 'position'] as const;

function compileFast(node: Node): Fast | undefined {
  switch (node.type) {
    case 'string':
    case 'number':
    case 'value': {
      if (!hasOnly(node, LEAF)) return undefined;
      const value: unknown = node.value;
      return () => value;
    }
    case 'variable':
      return hasOnly(node, LEAF) ? compilePath([node]) : undefined;
    case 'path':
      return hasOnly(node, ['type', 'steps', 'position']) && Array.isArray(node.steps)
        ? compilePath(node.steps as Node[])
        : undefined;
    case 'unary':
      return node.value === '{' && hasOnly(node, ['type', 'value', 'position', 'lhs'])
        ? compileObject(node.lhs)
        : undefined;
    default:
      return undefined;
  }
}

/** The first step of a path: a field of the envelope, or `$` (the envelope), `$meta`, `$id`, `$time`. */
function compileRoot(step: Node): Fast | undefined {
  if (!hasOnly(step, LEAF)) return undefined;
  if (step.type === 'name') {
    switch (step.value) {
      case 'payload':
        return (m) => m.payload;
      case 'meta':
        return (m) => m.meta;
      case 'id':
        return (m) => m.id;
      case 'time':
        return (m) => m.time;
      default:
        // The envelope has no other field, so `temperature` (for `payload.temperature`) reads nothing.
        return () => undefined;
    }
  }
  if (step.type !== 'variable') return undefined;
  switch (step.value) {
    case '':
      return envelopeOf;
    case 'meta':
      return (m) => m.meta;
    case 'id':
      return (m) => m.id;
    case 'time':
      return (m) => m.time;
    default:
      return undefined;
  }
}

function compilePath(steps: Node[]): Fast | undefined {
  const [first, ...rest] = steps;
  if (!first) return undefined;
  const root = compileRoot(first);
  if (!root) return undefined;
  const names: string[] = [];
  for (const step of rest) {
    if (step.type !== 'name' || !hasOnly(step, LEAF)) return undefined;
    names.push(String(step.value));
  }
  return (message) => {
    let value = root(message);
    for (const name of names) {
      if (value === FALLBACK) return FALLBACK;
      value = lookup(value, name);
    }
    return Array.isArray(value) || typeof value === 'function' ? FALLBACK : value;
  };
}

/** JSONata's field lookup on one value; arrays go to JSONata, which maps over them. */
function lookup(value: unknown, name: string): unknown {
  if (Array.isArray(value)) return FALLBACK;
  if (value !== null && typeof value === 'object' && Object.prototype.hasOwnProperty.call(value, name)) {
    return (value as Record<string, unknown>)[name];
  }
  return undefined;
}

function compileObject(lhs: unknown): Fast | undefined {
  if (!Array.isArray(lhs)) return undefined;
  const keys: string[] = [];
  const values: Fast[] = [];
  for (const pair of lhs as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2) return undefined;
    const [key, valueNode] = pair as [Node, Node];
    // Computed or repeated keys have rules of their own in JSONata (D1009): leave them to it.
    if (key.type !== 'string' || !hasOnly(key, LEAF) || keys.includes(String(key.value))) return undefined;
    const value = compileFast(valueNode);
    if (!value) return undefined;
    keys.push(String(key.value));
    values.push(value);
  }
  // The input is always the envelope, an object: no array for JSONata to group by key.
  return (message) => {
    // JSONata builds objects without a prototype; the fast path gives the same shape.
    const out = Object.create(null) as Record<string, unknown>;
    for (let i = 0; i < keys.length; i++) {
      const value = (values[i] as Fast)(message);
      if (value === FALLBACK) return FALLBACK;
      if (value !== undefined) out[keys[i] as string] = value;
    }
    return out;
  };
}
