import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  buildPipelineJsonSchema,
  CONFIG_END,
  CONFIG_START,
  replaceConfigSection,
} from '../src/config/index.js';
import { builtinRegistry } from '../src/registry/index.js';
import type { ComponentEntry } from '../src/sdk/index.js';

/**
 * The generated files are committed (docs/architecture.md, "Generated files"); these tests fail when one is stale.
 * `npm run build && node scripts/generate.js` rewrites them all.
 */

const REGENERATE = 'run `npm run build && node scripts/generate.js` to regenerate it, and commit the result';
const root = new URL('../', import.meta.url);
const read = (path: string): string | undefined => {
  const file = fileURLToPath(new URL(path, root));
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
};

/** Where a component's README is: connectors/<type>/ or src/transforms/<type>/ (as in scripts/generate.js). */
const readmeOf = (d: ComponentEntry): string =>
  d.kind === 'transform' ? `src/transforms/${d.type}/README.md` : `connectors/${d.type}/README.md`;

const readmes = new Map<string, ComponentEntry[]>();
for (const d of [...builtinRegistry.sources, ...builtinRegistry.sinks, ...builtinRegistry.transforms]) {
  readmes.set(readmeOf(d), [...(readmes.get(readmeOf(d)) ?? []), d]);
}

describe('generated files are up to date', () => {
  it('pipelines/pipeline.schema.json', () => {
    const path = 'pipelines/pipeline.schema.json';
    const expected = `${JSON.stringify(buildPipelineJsonSchema(builtinRegistry), null, 2)}\n`;
    const actual = read(path);
    expect(actual, `${path} is missing: ${REGENERATE}`).toBeDefined();
    expect(actual, `${path} is stale: ${REGENERATE}`).toBe(expected);
  });

  it.each([...readmes.entries()])('the config section of %s', (path, definitions) => {
    const actual = read(path);
    expect(
      actual,
      `${path} is missing: every component needs a README with a ${CONFIG_START} ... ${CONFIG_END} section`,
    ).toBeDefined();
    const text = actual ?? '';
    expect(
      text.includes(CONFIG_START) && text.includes(CONFIG_END),
      `${path} has no ${CONFIG_START} ... ${CONFIG_END} section: add the markers, then ${REGENERATE}`,
    ).toBe(true);
    const expected = replaceConfigSection(text, definitions.length === 1 ? definitions[0]! : definitions);
    expect(text, `the config section of ${path} is stale: ${REGENERATE}`).toBe(expected);
    // Prettier would realign the generated table, and the next check would fail.
    expect(
      /<!-- prettier-ignore-start -->\s*<!-- config:start -->/.test(text) &&
        /<!-- config:end -->\s*<!-- prettier-ignore-end -->/.test(text),
      `the config section of ${path} must sit between <!-- prettier-ignore-start --> and <!-- prettier-ignore-end -->: ${REGENERATE}`,
    ).toBe(true);
  });
});
