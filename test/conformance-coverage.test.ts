import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../src/registry/index.js';
import { componentsOf, type ComponentKind } from '../src/registry/types.js';
import { sourceReadModes } from '../src/sdk/index.js';

/**
 * Every built-in component runs its kind's shared conformance suite (test/conformance/README.md):
 * a new source, sink or transform without one fails here. A suite is found by its call and its
 * label, which starts with the component's type (`sourceConformance('mqtt (QoS 1 ...)', ...)`).
 */
const root = join(import.meta.dirname, '..');
type Suite = ComponentKind | 'tick source';
const SUITES: Record<Suite, string[]> = {
  source: ['sourceConformance', 'generatorSourceConformance'],
  // Sources read on a tick (scheduled pipelines) run the reader contract's suite.
  'tick source': ['runReaderConformance'],
  sink: ['sinkConformance'],
  transform: ['describeTransformConformance'],
};

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : testFiles(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** `kind type` -> files applying that kind's suite to it. */
function applied(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const call = /\b(\w*[Cc]onformance)\(\s*['"`]([a-z][a-z0-9-]*)/g;
  for (const file of [...testFiles(join(root, 'connectors')), ...testFiles(join(root, 'src'))]) {
    for (const [, fn, label] of readFileSync(file, 'utf8').matchAll(call)) {
      for (const kind of Object.keys(SUITES) as Suite[]) {
        if (!SUITES[kind].includes(fn!)) continue;
        const key = `${kind} ${label}`;
        out.set(key, [...(out.get(key) ?? []), relative(root, file)]);
      }
    }
  }
  return out;
}

describe('conformance suites', () => {
  const found = applied();
  const sources = componentsOf(builtinRegistry, 'source');
  const expected: Record<Suite, string[]> = {
    source: sources.filter((s) => sourceReadModes(s).includes('stream')).map((s) => s.type),
    'tick source': sources.filter((s) => sourceReadModes(s).includes('tick')).map((s) => s.type),
    sink: componentsOf(builtinRegistry, 'sink').map((c) => c.type),
    transform: componentsOf(builtinRegistry, 'transform').map((c) => c.type),
  };
  for (const kind of Object.keys(SUITES) as Suite[])
    it(`run on every built-in ${kind}`, () => {
      const missing = expected[kind].filter((type) => !found.has(`${kind} ${type}`));
      expect(missing, `${kind}s without ${SUITES[kind].join(' or ')}`).toEqual([]);
    });
});
