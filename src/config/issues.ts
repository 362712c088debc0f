import type { z } from 'zod';
import { formatConfigIssue, redact, type ConfigIssue } from '../sdk/index.js';
import { getAt, keysAt, formatPath, type PathSegment } from './schema-walk.js';

/** zod issues turned into one-line messages a user can act on. Locations are added by the loader. */

export interface RawIssue {
  /** Full path inside the pipeline document. */
  path: PathSegment[];
  message: string;
  /** Point at the key rather than its value (unknown keys). */
  atKey?: boolean;
}

/** Optimal string alignment distance: a transposition (`qso` / `qos`) counts as one edit. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...new Array<number>(b.length).fill(0),
  ]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const distance = editDistance(input.toLowerCase(), c.toLowerCase());
    if (distance < bestDistance) {
      best = c;
      bestDistance = distance;
    }
  }
  const limit = Math.max(1, Math.floor(Math.max(input.length, best?.length ?? 0) / 3));
  return bestDistance <= limit ? best : undefined;
}

export function unknownKeyMessage(key: string, candidates: readonly string[]): string {
  const suggestion = didYouMean(key, candidates);
  if (suggestion) return `unknown key '${key}' — did you mean '${suggestion}'?`;
  const sorted = [...new Set(candidates)].sort();
  return sorted.length > 0 && sorted.length <= 15
    ? `unknown key '${key}' (expected one of: ${sorted.join(', ')})`
    : `unknown key '${key}'`;
}

export function listWithOr(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function formatLiteral(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

/**
 * `got "1"` for short primitives, `got a mapping` otherwise; only the type for secrets, and only
 * the reference for an interpolated value (`got the value from ${file:/run/secrets/x}`).
 */
function got(value: unknown, secret: boolean, origin?: string): string {
  if (value === undefined) return '';
  if (origin) return `, got the value from ${origin}`;
  if (secret) return `, got ${typeName(value)}`;
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value;
    return `, got ${JSON.stringify(shown)}`;
  }
  // `key:` with nothing after it is null in YAML.
  if (value === null) return ', got an empty value';
  if (typeof value === 'number' || typeof value === 'boolean') return `, got ${String(value)}`;
  return `, got ${typeName(value)}`;
}

const EXPECTED_TYPE: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  int: 'an integer',
  record: 'a mapping',
  map: 'a mapping',
  set: 'a list',
};

export interface TranslateContext {
  /** The schema the issues came from, and where its value sits in the document. */
  schema: z.ZodType;
  prefix: PathSegment[];
  /** The value given to the schema (to tell "missing" from "wrong type", and to show inputs). */
  value: unknown;
  /** Extra keys accepted at the root of the value (`type`, sink engine keys), for did-you-mean. */
  rootKeys?: readonly string[];
  isSecretPath(relative: readonly PathSegment[]): boolean;
  /** Where the value at a (full) path came from when it was interpolated: it is then never shown. */
  originAt?(path: readonly PathSegment[]): string | undefined;
}

type Issue = z.core.$ZodIssue;

export function translateIssues(
  issues: readonly Issue[],
  ctx: TranslateContext,
  base: PathSegment[] = [],
): RawIssue[] {
  return issues.flatMap((issue) => translateIssue(issue, ctx, base));
}

function translateIssue(issue: Issue, ctx: TranslateContext, base: PathSegment[]): RawIssue[] {
  const relative: PathSegment[] = [...base, ...(issue.path as PathSegment[])];
  const path = [...ctx.prefix, ...relative];
  const secret = ctx.isSecretPath(relative);
  const origin = ctx.originAt?.(path);
  const input = getAt(ctx.value, relative);
  const one = (message: string): RawIssue[] => [{ path, message: redact(message) }];

  switch (issue.code) {
    case 'unrecognized_keys': {
      const candidates = [
        ...keysAt(ctx.schema, relative),
        ...(relative.length === 0 ? (ctx.rootKeys ?? []) : []),
      ];
      return issue.keys.map((key) => ({
        path: [...path, key],
        message: unknownKeyMessage(key, candidates),
        atKey: true,
      }));
    }
    case 'invalid_type': {
      const parent = getAt(ctx.value, relative.slice(0, -1));
      const key = relative[relative.length - 1];
      if (
        input === undefined &&
        key !== undefined &&
        parent !== null &&
        typeof parent === 'object' &&
        !Object.hasOwn(parent, key)
      ) {
        return one('required key is missing');
      }
      return one(`expected ${EXPECTED_TYPE[issue.expected] ?? issue.expected}${got(input, secret, origin)}`);
    }
    case 'invalid_value':
      return one(`expected ${listWithOr(issue.values.map(formatLiteral))}${got(input, secret, origin)}`);
    case 'invalid_union': {
      if (issue.errors.length === 0) {
        const disc = (issue as { discriminator?: string }).discriminator;
        return disc
          ? [{ path: [...path, disc], message: `no variant matches this '${disc}'` }]
          : one('no variant matches this value');
      }
      // Unions of literals or types (`0 | 1 | 2`, `number | string`): one merged "expected" message.
      const flat = issue.errors.every(
        (e) =>
          e.length === 1 &&
          e[0]!.path.length === 0 &&
          (e[0]!.code === 'invalid_value' || e[0]!.code === 'invalid_type'),
      );
      if (flat) {
        const expected = issue.errors.flatMap((e) => {
          const only = e[0]!;
          if (only.code === 'invalid_value') return only.values.map(formatLiteral);
          if (only.code === 'invalid_type') return [EXPECTED_TYPE[only.expected] ?? only.expected];
          return [];
        });
        return one(`expected ${listWithOr([...new Set(expected)])}${got(input, secret, origin)}`);
      }
      // Otherwise report the branch that got furthest: not rejected on type at the root, fewest issues.
      const ranked = [...issue.errors].sort((a, b) => score(a) - score(b));
      return translateIssues(ranked[0]!, ctx, relative);
    }
    case 'too_small': {
      const n = Number(issue.minimum);
      if (issue.origin === 'string')
        return one(n <= 1 ? 'must not be empty' : `must be at least ${n} characters long`);
      if (issue.origin === 'array' || issue.origin === 'set')
        return one(`must have at least ${n} item${n === 1 ? '' : 's'}`);
      return one(
        `must be ${issue.inclusive ? 'at least' : 'greater than'} ${n}${got(input, secret, origin)}`,
      );
    }
    case 'too_big': {
      const n = Number(issue.maximum);
      if (issue.origin === 'string') return one(`must be at most ${n} characters long`);
      if (issue.origin === 'array' || issue.origin === 'set')
        return one(`must have at most ${n} item${n === 1 ? '' : 's'}`);
      return one(`must be ${issue.inclusive ? 'at most' : 'less than'} ${n}${got(input, secret, origin)}`);
    }
    case 'invalid_format': {
      // zod's own messages start with "Invalid"; schema authors' messages are kept as written.
      if (!issue.message.startsWith('Invalid')) return one(`${issue.message}${got(input, secret, origin)}`);
      if (issue.format === 'regex')
        return one(`does not match ${issue.pattern ?? 'the expected pattern'}${got(input, secret, origin)}`);
      return one(`expected a valid ${issue.format}${got(input, secret, origin)}`);
    }
    case 'not_multiple_of':
      return one(`must be a multiple of ${String(issue.divisor)}${got(input, secret, origin)}`);
    default:
      return one(origin ? `${issue.message}, got the value from ${origin}` : issue.message);
  }
}

function score(branch: readonly Issue[]): number {
  const typeMismatch = branch.some(
    (i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value'),
  );
  return (typeMismatch ? 1000 : 0) + branch.length;
}

export { formatPath };

/** An issue as printed by `validate`, with secrets redacted. */
export function formatIssue(issue: ConfigIssue): string {
  return redact(formatConfigIssue(issue));
}
