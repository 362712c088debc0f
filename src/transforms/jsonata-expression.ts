import type jsonata from 'jsonata';
import { z } from 'zod';
import { lazyRequire } from '../sdk/index.js';
import { linearRegExpProblem } from './shared/linear-regexp.js';

/**
 * The part of JSONata that the map and filter specs need to validate a pipeline file, without
 * loading JSONata: the registry imports every spec, and a relay with no expression must not keep
 * JSONata's parser (and RE2) in memory. `jsonata` is required the first time an expression is
 * checked; the evaluator (jsonata.ts) is loaded with the transform's implementation.
 */

/** Validates the syntax while the pipeline file is checked, so errors come with file:line. */
export function jsonataExpression(description: string) {
  return z
    .string()
    .min(1)
    .superRefine((source, ctx) => {
      let ast: unknown;
      try {
        ast = lazyRequire<typeof jsonata>('jsonata', 'A JSONata expression (map, filter)')(source).ast();
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `invalid JSONata: ${describeError(error)}` });
        return;
      }
      for (const regexp of regularExpressions(ast)) {
        const problem = linearRegExpProblem(regexp);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }
    })
    .describe(description);
}

/** The regular expression literals of a parsed expression (JSONata's AST keeps them as RegExp values). */
function regularExpressions(ast: unknown): RegExp[] {
  const found: RegExp[] = [];
  const visited = new Set<object>();
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object' || visited.has(node)) return;
    visited.add(node);
    if (node instanceof RegExp) found.push(node);
    for (const value of Object.values(node)) visit(value);
  };
  visit(ast);
  return found;
}

/** JSONata throws plain objects `{ code, position, message }`; this turns any of them into one readable line. */
export function describeError(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const e = error as { message?: unknown; code?: unknown; position?: unknown };
    const message = typeof e.message === 'string' ? e.message : String(error);
    const where = typeof e.position === 'number' && e.position > 0 ? ` at character ${e.position}` : '';
    return typeof e.code === 'string' ? `${message} (JSONata ${e.code}${where})` : message;
  }
  return String(error);
}

/** Shortens an expression for a rejection reason. */
export function excerpt(source: string, max = 60): string {
  const flat = source.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
