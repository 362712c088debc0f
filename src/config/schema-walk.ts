import type { z } from 'zod';
import { isSecretSchema } from '../sdk/index.js';

/**
 * Reading zod 4 schemas structurally: where the secrets are, which keys an object accepts at a path,
 * what an option looks like for docs. Uses `_zod.def`, the documented way to introspect zod 4.
 */

export type PathSegment = string | number;
/** A schema path: `'*'` stands for any array index or record key. */
export type SchemaPath = (string | typeof ANY)[];
export const ANY = Symbol('any');

export interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  options?: z.ZodType[];
  valueType?: z.ZodType;
  entries?: Record<string, string | number>;
  values?: unknown[];
  defaultValue?: unknown;
  checks?: { _zod: { def: { check: string; format?: string; pattern?: RegExp } } }[];
  getter?: () => z.ZodType;
  format?: string;
}

export function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

export interface Unwrapped {
  schema: z.ZodType;
  optional: boolean;
  nullable: boolean;
  /** Present when a default (or prefault) applies; a prefault holds an input value. */
  default?: { value: unknown };
  description?: string;
  secret: boolean;
  /** `duration()` from the SDK: a number or a string such as `5s`, parsed to milliseconds. */
  duration: boolean;
}

/** Strips wrappers (optional, default, pipe, ...) and collects what they say about the field. */
export function unwrap(schema: z.ZodType): Unwrapped {
  const out: Unwrapped = { schema, optional: false, nullable: false, secret: false, duration: false };
  let current: z.ZodType | undefined = schema;
  for (let guard = 0; current && guard < 32; guard++) {
    out.description ??= current.description;
    if (isSecretSchema(current)) out.secret = true;
    const def = defOf(current);
    if (WRAPPERS.has(def.type)) {
      if (def.type === 'optional') out.optional = true;
      if (def.type === 'nullable') out.nullable = true;
      if ((def.type === 'default' || def.type === 'prefault') && !out.default)
        out.default = { value: def.defaultValue };
      current = def.innerType;
      continue;
    }
    if (def.type === 'pipe' && def.in) {
      if (isDurationUnion(def.in)) out.duration = true;
      current = defOf(def.in).type === 'transform' ? def.out : def.in;
      continue;
    }
    if (def.type === 'lazy' && def.getter) {
      current = def.getter();
      continue;
    }
    out.schema = current;
    break;
  }
  if (out.default) out.optional = true;
  return out;
}

function isDurationUnion(schema: z.ZodType): boolean {
  const def = defOf(schema);
  if (def.type !== 'union' || def.options?.length !== 2) return false;
  const [a, b] = def.options.map(defOf);
  return (
    a?.type === 'number' && b?.type === 'string' && !!b.checks?.some((c) => c._zod.def.format === 'regex')
  );
}

/** Paths of the fields marked `secret()` inside a config schema (nested objects, arrays, records, unions). */
export function secretPaths(schema: z.ZodType): SchemaPath[] {
  const found: SchemaPath[] = [];
  const visit = (s: z.ZodType, path: SchemaPath, depth: number): void => {
    if (depth > 16) return;
    const u = unwrap(s);
    if (u.secret) {
      found.push(path);
      return;
    }
    const def = defOf(u.schema);
    if (def.type === 'object' && def.shape) {
      for (const [key, child] of Object.entries(def.shape)) visit(child, [...path, key], depth + 1);
    } else if (def.type === 'array' && def.element) {
      visit(def.element, [...path, ANY], depth + 1);
    } else if (def.type === 'record' && def.valueType) {
      visit(def.valueType, [...path, ANY], depth + 1);
    } else if ((def.type === 'union' || def.type === 'intersection') && def.options) {
      for (const option of def.options) visit(option, path, depth + 1);
    }
  };
  visit(schema, [], 0);
  // Union options can repeat the same path.
  const seen = new Set<string>();
  return found.filter((p) => {
    const key = p.map((s) => (s === ANY ? '\0*' : s)).join('\0');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The concrete paths in `value` that a schema path designates (expanding `ANY`). */
export function expandPath(value: unknown, path: SchemaPath): PathSegment[][] {
  if (path.length === 0) return [[]];
  const [head, ...rest] = path;
  if (value === null || typeof value !== 'object') return [];
  const out: PathSegment[][] = [];
  if (head === ANY) {
    const keys: PathSegment[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
    for (const k of keys) {
      for (const tail of expandPath((value as Record<PathSegment, unknown>)[k], rest)) out.push([k, ...tail]);
    }
  } else if (head !== undefined && !Array.isArray(value) && Object.hasOwn(value, head)) {
    for (const tail of expandPath((value as Record<string, unknown>)[head], rest)) out.push([head, ...tail]);
  }
  return out;
}

export function matchesSchemaPath(path: readonly PathSegment[], schemaPath: SchemaPath): boolean {
  if (path.length < schemaPath.length) return false;
  // A prefix match also counts: an error inside a secret field (none expected) is still secret.
  return schemaPath.every((s, i) => s === ANY || s === path[i]);
}

/** Keys an object schema accepts at `path` (for did-you-mean); unions contribute all their options. */
export function keysAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  const keys = new Set<string>();
  const visit = (s: z.ZodType, rest: readonly PathSegment[], depth: number): void => {
    if (depth > 32) return;
    const def = defOf(unwrap(s).schema);
    if ((def.type === 'union' || def.type === 'intersection') && def.options) {
      for (const option of def.options) visit(option, rest, depth + 1);
      return;
    }
    if (rest.length === 0) {
      if (def.type === 'object' && def.shape) for (const k of Object.keys(def.shape)) keys.add(k);
      return;
    }
    const [head, ...tail] = rest;
    if (def.type === 'object' && def.shape && typeof head === 'string' && Object.hasOwn(def.shape, head))
      visit(def.shape[head]!, tail, depth + 1);
    else if (def.type === 'array' && def.element) visit(def.element, tail, depth + 1);
    else if (def.type === 'record' && def.valueType) visit(def.valueType, tail, depth + 1);
  };
  visit(schema, path, 0);
  return [...keys];
}

export function getAt(value: unknown, path: readonly PathSegment[]): unknown {
  let current = value;
  for (const s of path) {
    // Own keys only: `constructor` in a document must not find Object's constructor.
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, s)) return undefined;
    current = (current as Record<PathSegment, unknown>)[s];
  }
  return current;
}

/** `sinks[0].tls.ca`; keys that are not identifiers are quoted: `meta["mqtt.topic"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const s of path) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}
