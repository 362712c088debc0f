import jsonata from 'jsonata';
import type { Message } from '../sdk/index.js';
import { LinearRegExp } from './shared/linear-regexp.js';

// Validation (what the specs import) lives in jsonata-expression.ts; re-exported for the evaluators.
export { jsonataExpression, describeError, excerpt } from './jsonata-expression.js';

/**
 * JSONata as the map and filter transforms use it. An expression is evaluated against the message
 * envelope `{ payload, meta, id, time }` (as Node-RED roots its expressions at `msg`: write
 * `payload.temperature`), with `$meta`, `$id` and `$time` bound as well. Expressions are parsed
 * once; their text is never turned into JavaScript.
 */
export interface Envelope {
  payload: unknown;
  meta: Record<string, unknown>;
  id: string;
  time: number;
}

/** What an expression's `$` is: a new plain object, so nothing the expression does reaches the message. */
export function envelopeOf(message: Message): Envelope {
  return { payload: message.payload, meta: message.meta, id: message.id, time: message.time };
}

/** The same text, for reasons and docs. */
export const ENVELOPE = '{ payload, meta, id, time }';

/** Compiles an expression for JSONata's own evaluator, on the envelope with $meta, $id and $time bound. */
export function compileJsonata(source: string, timeoutMs: number): (message: Message) => Promise<unknown> {
  const expression = boundedJsonata(source, timeoutMs);
  return (message) =>
    expression.evaluate(envelopeOf(message), { meta: message.meta, id: message.id, time: message.time });
}

// ---- bounds ---------------------------------------------------------------------------------
// JSONata checks its `timeout` only when it starts an evaluation step, and a step can be one long
// call: a backtracking regular expression, a range of ten million numbers, `$sort` (which copies
// its array at every comparison: 50,000 numbers took 100 s) or `$distinct` (which compares every
// pair). So every expression gets: RE2 for regular expressions (linear time); limits on ranges,
// on the length of every array and string a step gives, and on `$pad`; linear `$sort` and
// `$distinct` in place of the quadratic ones; no `$eval` (text from a message must not become an
// expression); and a step hook that lets the event loop run every few milliseconds, so that a
// long evaluation delays other work by one slice, not by its whole duration, until `timeout`
// stops it.

/** Most numbers a range `[a..b]` may hold: it is built in one step. */
export const MAX_RANGE = 100_000;
/** Longest array and string one step may give (a doubling `$append($a, $a)` stops here). */
export const MAX_ITEMS = 100_000;
export const MAX_STRING = 1_000_000;
/** Longest `$pad` width. */
export const MAX_PAD = 100_000;
/**
 * Most items an order-by (`^(...)`) or a `$sort` with a function may sort. JSONata's merge sort for
 * these is recursive and copies arrays: 2,000 items held the event loop for 36 ms, 20,000 for 245 ms.
 * `$sort` without a function has no such limit (it is replaced by an n log n sort).
 */
export const MAX_SORT = 2_000;
/** Deepest nesting of evaluation steps (recursion of user functions). */
export const MAX_DEPTH = 2_000;
/** CPU time evaluation steps may take before the event loop gets a turn. */
export const SLICE_MS = 10;

interface AstNode {
  type?: string;
  value?: unknown;
  lhs?: unknown;
  rhs?: unknown;
  terms?: unknown;
}

/** The terms of every order-by: each comparison of the sort evaluates them, so they count its work. */
const sortTerms = new WeakSet<object>();
/** Per evaluation (JSONata's base environment), how many order-by terms it evaluated. */
const sortTermEvaluations = new WeakMap<object, number>();
/** A merge sort of MAX_SORT items compares about n log2 n times, evaluating a term for each side. */
const MAX_SORT_TERM_EVALUATIONS = 2 * MAX_SORT * Math.ceil(Math.log2(MAX_SORT));

/** The operands of every range in the ASTs compiled here, to check a range's size before it is built. */
const rangeOperands = new WeakMap<object, { range: object; side: 'lhs' | 'rhs' }>();
/** Per evaluation (JSONata's base environment), the left bounds of ranges whose right bound is being evaluated. */
const pendingLeftBounds = new WeakMap<object, Map<object, unknown[]>>();

/** Parses an expression with the bounds above; throws JSONata's parse errors. */
export function boundedJsonata(source: string, timeoutMs: number): jsonata.Expression {
  const expression = jsonata(source, {
    timeout: timeoutMs,
    stack: MAX_DEPTH,
    RegexEngine: LinearRegExp as unknown as RegExpConstructor,
  });
  forEachNode(expression.ast(), (node: AstNode) => {
    if (node.type === 'sort' && Array.isArray(node.terms))
      for (const term of node.terms as { expression?: unknown }[])
        if (isObject(term.expression)) sortTerms.add(term.expression);
    if (node.type !== 'binary' || node.value !== '..') return;
    if (isObject(node.lhs)) rangeOperands.set(node.lhs, { range: node, side: 'lhs' });
    if (isObject(node.rhs)) rangeOperands.set(node.rhs, { range: node, side: 'rhs' });
  });
  expression.registerFunction('sort', sortWithoutCopies, '<af?:a>');
  expression.registerFunction('distinct', distinctByKey, '<x:x>');
  expression.registerFunction('pad', boundedPad, '<s-ns?:s>');
  expression.registerFunction('eval', () => {
    throw new Error('$eval is not available: expressions come from the pipeline file only');
  });
  // Not in JSONata's typings: the hooks it awaits around every evaluation step.
  const assign = expression.assign as unknown as (name: symbol, value: unknown) => void;
  assign(Symbol.for('jsonata.__evaluate_entry'), yieldWhenSliceUsed);
  assign(Symbol.for('jsonata.__evaluate_exit'), checkStepResult);
  return expression;
}

const isObject = (value: unknown): value is object => value !== null && typeof value === 'object';

function forEachNode(node: unknown, visit: (node: AstNode) => void, visited = new Set<object>()): void {
  if (!isObject(node) || visited.has(node)) return;
  visited.add(node);
  visit(node as AstNode);
  for (const value of Object.values(node)) forEachNode(value, visit, visited);
}

/** Called after every step with its result: refuses oversized results, and ranges before they are built. */
function checkStepResult(
  expr: object,
  _input: unknown,
  environment: { base?: object },
  result: unknown,
): void {
  if (Array.isArray(result) && result.length > MAX_ITEMS)
    throw new Error(`a step gave ${result.length} items, more than the limit of ${MAX_ITEMS}`);
  if (typeof result === 'string' && result.length > MAX_STRING)
    throw new Error(
      `a step gave a string of ${result.length} characters, more than the limit of ${MAX_STRING}`,
    );
  const operand = rangeOperands.get(expr);
  if (!operand || !environment.base) return;
  let pending = pendingLeftBounds.get(environment.base);
  if (!pending) pendingLeftBounds.set(environment.base, (pending = new Map()));
  let stack = pending.get(operand.range);
  if (!stack) pending.set(operand.range, (stack = []));
  // A path gives a sequence here, which JSONata unwraps after this hook when it has one item.
  const bound = Array.isArray(result) && result.length === 1 ? (result[0] as unknown) : result;
  // JSONata evaluates the left bound, then the right one, then builds the range.
  if (operand.side === 'lhs') {
    stack.push(bound);
    return;
  }
  const lhs = stack.pop();
  if (typeof lhs === 'number' && typeof bound === 'number' && bound - lhs + 1 > MAX_RANGE)
    throw new Error(
      `the range [${lhs}..${bound}] has ${bound - lhs + 1} items, more than the limit of ${MAX_RANGE}`,
    );
}

let sliceStart: number | undefined;

/**
 * Called at every step: counts order-by comparisons (the sort step itself has no hook), and after
 * SLICE_MS of steps since the event loop last turned, waits for its next turn.
 */
function yieldWhenSliceUsed(
  expr: object,
  _input: unknown,
  environment: { base?: object },
): Promise<void> | undefined {
  if (sortTerms.has(expr) && environment.base) {
    const count = (sortTermEvaluations.get(environment.base) ?? 0) + 1;
    sortTermEvaluations.set(environment.base, count);
    if (count > MAX_SORT_TERM_EVALUATIONS)
      throw new Error(`an order-by (^) sorts more than about ${MAX_SORT} items, the limit`);
  }
  const now = performance.now();
  if (sliceStart === undefined) {
    sliceStart = now;
    // Runs when the event loop turns, whoever made it turn: a new slice starts after that.
    setImmediate(() => {
      sliceStart = undefined;
    });
    return undefined;
  }
  if (now - sliceStart < SLICE_MS) return undefined;
  return new Promise((resolve) => setImmediate(resolve));
}

/** JSONata's own functions take `this` = the evaluation focus; ours need nothing from it. */
type Builtin = (this: unknown, ...args: never[]) => unknown;
const originals = new Map<string, { implementation: Builtin }>();
async function original(name: string): Promise<{ implementation: Builtin }> {
  let found = originals.get(name);
  if (!found) {
    found = (await jsonata(`$${name}`).evaluate(null)) as { implementation: Builtin };
    originals.set(name, found);
  }
  return found;
}

/** `$sort`: JSONata's merge sort copies the rest of the array at each comparison (quadratic). */
async function sortWithoutCopies(this: unknown, array: unknown, comparator?: unknown): Promise<unknown> {
  if (comparator !== undefined) {
    // A user function: JSONata's own merge sort, recursive and copying, so bounded in size.
    if (Array.isArray(array) && array.length > MAX_SORT)
      throw new Error(
        `$sort with a function sorts ${array.length} items, more than the limit of ${MAX_SORT}`,
      );
    const sort = await original('sort');
    return (sort.implementation as (this: unknown, a: unknown, c: unknown) => unknown).call(
      this,
      array,
      comparator,
    );
  }
  if (!Array.isArray(array) || array.length <= 1) return array;
  const numbers = array.every((v) => typeof v === 'number');
  if (!numbers && !array.every((v) => typeof v === 'string'))
    throw { code: 'D3070', stack: new Error().stack, index: 1 };
  // Array.prototype.sort is stable, as JSONata's merge sort is.
  return [...(array as (number | string)[])].sort((a, b) => (a > b ? 1 : a < b ? -1 : 0));
}

/** `$distinct` in one pass: JSONata compares each value with every value kept so far. */
function distinctByKey(array: unknown): unknown {
  if (!Array.isArray(array) || array.length <= 1) return array;
  const seen = new Set<string>();
  const out: unknown[] = [];
  const identities = new Map<unknown, number>();
  for (const value of array) {
    const key = equalityKey(value, identities);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(value);
  }
  if ((array as { sequence?: boolean }).sequence) (out as unknown as { sequence: boolean }).sequence = true;
  return out;
}

/** Equal keys exactly when JSONata's deep equality holds: arrays in order, objects whatever their key order. */
function equalityKey(value: unknown, identities: Map<unknown, number>): string {
  switch (typeof value) {
    case 'string':
      return `s${JSON.stringify(value)}`;
    case 'number':
      return `n${value}`;
    case 'boolean':
      return `b${value}`;
    case 'undefined':
      return 'u';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map((v) => equalityKey(v, identities)).join(',')}]`;
      const names = Object.getOwnPropertyNames(value).sort();
      const record = value as Record<string, unknown>;
      return `{${names.map((k) => `${JSON.stringify(k)}:${equalityKey(record[k], identities)}`).join(',')}}`;
    }
    default: {
      // Functions are equal only to themselves.
      let id = identities.get(value);
      if (id === undefined) identities.set(value, (id = identities.size));
      return `f${id}`;
    }
  }
}

/** `$pad` with a width of at most MAX_PAD characters: the padding is built in one step. */
async function boundedPad(this: unknown, text: unknown, width: unknown, char?: unknown): Promise<unknown> {
  if (typeof width === 'number' && Math.abs(width) > MAX_PAD)
    throw new Error(`$pad width ${width} exceeds the limit of ${MAX_PAD} characters`);
  const pad = await original('pad');
  return (pad.implementation as (this: unknown, ...a: unknown[]) => unknown).call(this, text, width, char);
}
