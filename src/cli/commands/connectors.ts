import type { Command } from 'commander';
import { stringify } from 'yaml';
import type { z } from 'zod';
import type { ComponentEntry } from '../../sdk/index.js';
import { describeOptions, type OptionRow } from '../../config/describe.js';
import { sinkEngineOptions } from '../../config/pipeline-schema.js';
import { didYouMean } from '../../config/issues.js';
import { allComponents } from '../../registry/types.js';
import type { CliDeps } from '../deps.js';

export { renderConfigMarkdown, replaceConfigSection } from '../../config/describe.js';

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

function optionsTable(rows: OptionRow[]): string {
  return renderTable(
    ['OPTION', 'TYPE', 'DEFAULT', 'REQUIRED', 'DESCRIPTION'],
    rows.map((r) => [r.name, r.type, r.default ?? '', r.required ? 'yes' : '', r.description]),
  );
}

/** What the component guarantees, evaluated on its examples (the guarantee depends on the config). */
function deliveryNote(d: ComponentEntry): string {
  if (d.kind === 'transform') return 'Delivery: a transform keeps the guarantee of its pipeline.';
  const results: string[] = [];
  (d.examples ?? []).forEach((example, i) => {
    const parsed = (d.config as z.ZodType).safeParse(example);
    if (parsed.success) results.push(`example ${i + 1}: ${d.delivery(parsed.data)}`);
  });
  const distinct = new Set(results.map((r) => r.slice(r.indexOf(': ') + 2)));
  if (distinct.size === 1) return `Delivery: ${[...distinct][0]} (with the examples' settings).`;
  if (results.length > 0) return `Delivery depends on the settings: ${results.join(', ')}.`;
  return 'Delivery depends on the settings: `passerelle validate` prints it for each pipeline.';
}

export function describeComponent(d: ComponentEntry): string {
  const parts = [
    `${d.type} (${d.kind}) — ${d.title}`,
    d.summary,
    deliveryNote(d),
    '',
    'Options:',
    optionsTable(describeOptions(d.config as z.ZodType)).trimEnd(),
  ];
  if (d.kind === 'sink')
    parts.push('', 'Options every sink accepts:', optionsTable(describeOptions(sinkEngineOptions)).trimEnd());
  if (d.examples?.length) {
    parts.push('', 'Examples:');
    d.examples.forEach((example, i) => {
      parts.push(`# example ${i + 1}`, stringify({ type: d.type, ...example }).trimEnd());
    });
  }
  return `${parts.join('\n')}\n`;
}

export function register(program: Command, deps: CliDeps): void {
  program
    .command('connectors')
    .description('list the available sources, transforms and sinks, or describe one')
    .argument('[type]', 'a component type to describe, e.g. mqtt')
    .action((type: string | undefined) => {
      const all = allComponents(deps.registry);
      if (!type) {
        if (all.length === 0) {
          deps.stdout('no components are registered\n');
          return;
        }
        deps.stdout(
          renderTable(
            ['KIND', 'TYPE', 'TITLE', 'SUMMARY'],
            all.map((d) => [d.kind, d.type, d.title, d.summary]),
          ),
        );
        return;
      }
      const matches = all.filter((d) => d.type === type);
      if (matches.length === 0) {
        const suggestion = didYouMean(type, [...new Set(all.map((d) => d.type))]);
        deps.stderr(
          `unknown component type '${type}'${suggestion ? ` — did you mean '${suggestion}'?` : ''} (run \`passerelle connectors\` for the list)\n`,
        );
        deps.setExitCode(1);
        return;
      }
      deps.stdout(matches.map(describeComponent).join('\n'));
    });
}
