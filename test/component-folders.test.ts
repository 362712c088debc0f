import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../src/registry/index.js';
import { allComponents, loadComponent } from '../src/registry/types.js';

/**
 * One folder, one component's whole story: the folder named by a component's type holds its README,
 * its registry entry (spec) and the implementation its `load()` gives. Shared code may live in a
 * sibling folder (opcua-write imports the OPC UA connection from connectors/opcua/).
 */
const root = join(import.meta.dirname, '..');
const folderOf = (kind: string, type: string): string =>
  kind === 'transform' ? join(root, 'src/transforms', type) : join(root, 'connectors', type);

/** Every value the folder's own modules (tests left out) export. */
async function exportsOf(folder: string): Promise<Set<unknown>> {
  const values = new Set<unknown>();
  const modules = readdirSync(folder).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  for (const file of modules) {
    const module = (await import(pathToFileURL(join(folder, file)).href)) as Record<string, unknown>;
    for (const value of Object.values(module)) values.add(value);
  }
  return values;
}

describe('component folders', () => {
  it.each(allComponents(builtinRegistry).map((c) => [`${c.kind} ${c.type}`, c] as const))(
    '%s: README, spec and implementation in the folder named by its type',
    async (_, component) => {
      const folder = folderOf(component.kind, component.type);
      expect(existsSync(join(folder, 'README.md')), `${folder}/README.md`).toBe(true);
      const exported = await exportsOf(folder);
      expect(exported.has(component), `the spec of ${component.type} is not exported from ${folder}`).toBe(
        true,
      );
      const implementation = await loadComponent(component);
      expect(
        exported.has(implementation),
        `the implementation of ${component.type} is not exported from ${folder}`,
      ).toBe(true);
    },
    30_000,
  );
});
