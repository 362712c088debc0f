import { stringify } from 'yaml';
import type { z } from 'zod';
import { componentsOf, findComponent, type ComponentKind, type Registry } from '../registry/types.js';
import { sourceReadModes, type ComponentEntry, type SourceEntry } from '../sdk/index.js';
import { didYouMean } from './issues.js';
import { defOf, unwrap } from './schema-walk.js';

/**
 * `passerelle create`: a commented pipeline from the component specs, like `telegraf config` and
 * `rpk connect create`. Each component starts from its first documented example (realistic values
 * for every required option); every other top-level option follows, commented out, with its
 * default and the first sentence of its description. Secrets stay `${env:}` / `${file:}` references.
 */
export function createPipeline(
  registry: Registry,
  source: string,
  sinks: string[],
  transforms: string[] = [],
): string {
  const src = lookup(registry, 'source', source);
  const snk = sinks.map((s) => lookup(registry, 'sink', s));
  const trs = transforms.map((t) => lookup(registry, 'transform', t));
  const lines = [
    '# yaml-language-server: $schema=pipelines/pipeline.schema.json',
    `# Written by \`passerelle create\`. Check it with \`passerelle validate\` (\`--offline\` leaves the`,
    '# ${env:}/${file:} references unresolved); `passerelle connectors <type>` describes every option.',
    `name: ${slug([source, 'to', ...sinks].join('-'))}`,
    // A source read on a tick only (an InfluxDB query) needs a schedule (docs/scheduling.md).
    ...(sourceReadModes(src as SourceEntry).includes('stream')
      ? []
      : [
          '# Runs once per tick over its window (docs/scheduling.md): `cron` + `timeZone`, or `every`.',
          'schedule:',
          '  every: 15m',
        ]),
    '',
    ...comment(`${src.title}: ${src.summary}`, ''),
    'source:',
    ...component(src, '  ', '  '),
  ];
  if (trs.length > 0) {
    lines.push('', 'transforms:');
    for (const t of trs)
      lines.push(`  # ${t.title}: ${firstSentence(t.summary)}`, ...component(t, '  - ', '    '));
  }
  lines.push('', 'sinks:');
  for (const s of snk) {
    lines.push(...comment(`${s.title}: ${s.summary}`, '  '), ...component(s, '  - ', '    '));
    lines.push(
      '    # Every sink also takes batch, retry, maxQueued, concurrency and name (docs/configuration.md).',
    );
  }
  return `${lines.join('\n')}\n`;
}

function lookup<K extends ComponentKind>(registry: Registry, kind: K, type: string): ComponentEntry {
  const found = findComponent(registry, kind, type);
  if (found) return found;
  const known = componentsOf(registry, kind).map((d) => d.type);
  const hint = didYouMean(type, known);
  throw new Error(
    `no ${kind} named "${type}"${hint ? ` (did you mean ${hint}?)` : ''}; ${kind}s: ${known.join(', ')}`,
  );
}

/** One component's lines: `type:` and the example's options set, the other options commented out. */
function component(d: ComponentEntry, first: string, rest: string): string[] {
  const example = (d.examples?.[0] ?? {}) as Record<string, unknown>;
  const shape = defOf(unwrap(d.config as z.ZodType).schema).shape ?? {};
  const out = [`${first}type: ${d.type}`];
  for (const [key, child] of Object.entries(shape)) {
    const u = unwrap(child);
    const about = comment(u.description ?? '', rest);
    if (key in example) {
      out.push(...about, ...yamlLines({ [key]: example[key] }, rest));
      continue;
    }
    const required = !u.optional && !u.nullable && u.default === undefined;
    if (required) {
      // An example without a required option: say so rather than write an invalid value.
      out.push(...about, `${rest}${key}: # required`);
      continue;
    }
    const shown =
      u.default === undefined
        ? [`${rest}# ${key}:`]
        : yamlLines(
            {
              [key]:
                u.duration && typeof u.default.value === 'number' ? `${u.default.value}ms` : u.default.value,
            },
            `${rest}# `,
          );
    out.push(...about, ...shown);
  }
  return out;
}

function yamlLines(value: Record<string, unknown>, indent: string): string[] {
  return stringify(value, { lineWidth: 0, flowCollectionPadding: true })
    .trimEnd()
    .split('\n')
    .map((l) => `${indent}${l}`);
}

function firstSentence(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  // A full stop ends it, not the one of `e.g.` or `i.e.`, and not one inside `code`.
  const end = flat.search(/(?<!\b(?:e\.g|i\.e|etc|vs))\.(\s|$)(?=[^`]*(`[^`]*`[^`]*)*$)/);
  const sentence = end === -1 ? flat : flat.slice(0, end);
  return sentence.length > 140 ? `${sentence.slice(0, 137)}...` : sentence;
}

/** The first sentence of a description as comment lines of at most ~100 characters. */
function comment(description: string, indent: string): string[] {
  const sentence = firstSentence(description);
  if (!sentence) return [];
  const lines: string[] = [];
  let line = '';
  for (const word of sentence.split(' ')) {
    if (line && indent.length + 2 + line.length + 1 + word.length > 100) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l) => `${indent}# ${l}`);
}

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'pipeline'
  );
}
