import type { z } from 'zod';
import type { ComponentEntry } from '../sdk/index.js';
import { defOf, unwrap } from './schema-walk.js';

/** Options of a component config, flattened for docs and `passerelle connectors <type>`. */
export interface OptionRow {
  /** Dotted name: `tls.ca`; list items as `topics[]`. */
  name: string;
  type: string;
  /** Rendered default, or undefined when there is none. */
  default?: string;
  required: boolean;
  secret: boolean;
  description: string;
}

export function describeOptions(schema: z.ZodType): OptionRow[] {
  const rows: OptionRow[] = [];
  const visit = (s: z.ZodType, prefix: string, parentRequired: boolean, depth: number): void => {
    const def = defOf(unwrap(s).schema);
    if (def.type !== 'object' || !def.shape || depth > 8) return;
    for (const [key, child] of Object.entries(def.shape)) {
      const u = unwrap(child);
      const name = prefix ? `${prefix}.${key}` : key;
      const required = parentRequired && !u.optional && !u.nullable;
      const inner = defOf(u.schema);
      rows.push({
        name,
        type: typeLabel(child),
        ...(u.default !== undefined ? { default: renderDefault(u.default.value, u.duration) } : {}),
        required,
        secret: u.secret,
        description: u.description ?? '',
      });
      if (inner.type === 'object') visit(u.schema, name, required, depth + 1);
      if (inner.type === 'array' && inner.element && defOf(unwrap(inner.element).schema).type === 'object') {
        visit(inner.element, `${name}[]`, required, depth + 1);
      }
    }
  };
  visit(schema, '', true, 0);
  return rows;
}

function typeLabel(schema: z.ZodType): string {
  const u = unwrap(schema);
  if (u.secret) return 'secret';
  if (u.duration) return 'duration';
  const def = defOf(u.schema);
  switch (def.type) {
    case 'enum':
      return Object.values(def.entries ?? {})
        .map((v) => JSON.stringify(v))
        .join(' | ');
    case 'literal':
      return (def.values ?? []).map((v) => JSON.stringify(v)).join(' | ');
    case 'number':
      // `.int()` is a check with an integer format in zod 4.
      return def.checks?.some((c) => /int/.test(c._zod.def.format ?? '')) ? 'integer' : 'number';
    case 'array':
      return def.element ? `list of ${typeLabel(def.element)}` : 'list';
    case 'record':
      return def.valueType ? `map of ${typeLabel(def.valueType)}` : 'map';
    case 'object':
      return 'object';
    case 'union':
      return [...new Set((def.options ?? []).map(typeLabel))].join(' | ');
    default:
      return def.type;
  }
}

/** Defaults longer than this are abbreviated: a table cell is no place for a whole config. */
export const MAX_DEFAULT_LENGTH = 80;

function renderDefault(value: unknown, isDuration: boolean): string {
  if (isDuration && typeof value === 'number') return `${value}ms`;
  if (typeof value === 'string') return isDuration ? value : JSON.stringify(value);
  if (value !== null && typeof value === 'object' && Object.keys(value).length === 0)
    return Array.isArray(value) ? '[]' : '{}';
  const full = JSON.stringify(value) ?? String(value);
  return full.length > MAX_DEFAULT_LENGTH ? abbreviate(value) : full;
}

/**
 * A long object or list default, shortened: the top-level keys (or items) are kept and nested
 * objects and lists become `{…}` / `[…]`, e.g. `{"temperature":{…},"humidity":{…}}`; past
 * MAX_DEFAULT_LENGTH the rest is cut to `…`.
 */
function abbreviate(value: unknown): string {
  const short = (v: unknown): string => {
    if (Array.isArray(v)) return v.length === 0 ? '[]' : '[…]';
    if (v !== null && typeof v === 'object') return Object.keys(v).length === 0 ? '{}' : '{…}';
    const text = JSON.stringify(v) ?? String(v);
    return text.length > 20 ? `${text.slice(0, 19)}…` : text;
  };
  const isArray = Array.isArray(value);
  const parts =
    value !== null && typeof value === 'object'
      ? isArray
        ? (value as unknown[]).map(short)
        : Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${short(v)}`)
      : [];
  if (parts.length === 0)
    return `${(JSON.stringify(value) ?? String(value)).slice(0, MAX_DEFAULT_LENGTH - 1)}…`;
  const [open, close] = isArray ? ['[', ']'] : ['{', '}'];
  let body = '';
  for (const [i, part] of parts.entries()) {
    const next = body ? `${body},${part}` : part;
    // Room for the closing `,…` too, so the result never exceeds MAX_DEFAULT_LENGTH.
    if (i > 0 && open.length + next.length + ',…'.length + close.length > MAX_DEFAULT_LENGTH) {
      body = `${body},…`;
      break;
    }
    body = next;
  }
  return `${open}${body}${close}`;
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

/** Markdown table of a component's options, for the generated section of its README. */
export function renderConfigMarkdown(definition: ComponentEntry): string {
  const rows = describeOptions(definition.config as z.ZodType);
  const lines = ['| Option | Type | Default | Required | Description |', '| --- | --- | --- | --- | --- |'];
  lines.push(
    `| \`type\` | \`${JSON.stringify(definition.type)}\` |  | yes | Selects this ${definition.kind}. |`,
  );
  for (const r of rows) {
    lines.push(
      `| \`${cell(r.name)}\` | ${cell(r.type)} | ${r.default !== undefined ? `\`${cell(r.default)}\`` : ''} | ${r.required ? 'yes' : ''} | ${cell(r.description)} |`,
    );
  }
  for (const [former, current] of Object.entries(definition.renamed ?? {}))
    lines.push(
      `| \`${cell(former)}\` |  |  |  | Deprecated: the former name of \`${cell(current)}\`, still read as it; \`passerelle validate\` warns. |`,
    );
  return `${lines.join('\n')}\n`;
}

export const CONFIG_START = '<!-- config:start -->';
export const CONFIG_END = '<!-- config:end -->';

/** Replaces the generated section of a README; throws when the markers are missing. */
export function replaceConfigSection(readme: string, definitions: ComponentEntry | ComponentEntry[]): string {
  const start = readme.indexOf(CONFIG_START);
  const end = readme.indexOf(CONFIG_END);
  if (start < 0 || end < start)
    throw new Error(`the README has no ${CONFIG_START} ... ${CONFIG_END} section`);
  const list = Array.isArray(definitions) ? definitions : [definitions];
  const body = list
    .map((d) =>
      list.length > 1 ? `### ${d.kind} \`${d.type}\`\n\n${renderConfigMarkdown(d)}` : renderConfigMarkdown(d),
    )
    .join('\n');
  return `${readme.slice(0, start + CONFIG_START.length)}\n\n${body}\n${readme.slice(end)}`;
}
