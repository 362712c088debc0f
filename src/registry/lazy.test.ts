import { describe, expect, it } from 'vitest';
import { loadPipelineTexts, loadPipelineTextsWithSpecs } from '../config/load.js';
import { builtinSpecs } from './builtin-specs.js';
import { builtinRegistry } from './index.js';
import { lazyBuiltinRegistry } from './lazy.js';
import { allComponents, type ComponentKind } from './types.js';

const relay = `name: relay
source: { type: mqtt, url: mqtt://broker:1883, topics: [in/#] }
transforms:
  - { type: enrich, fields: { site: lyon } }
sinks:
  - type: \${env:SINK_TYPE}
    url: mqtt://cloud:1883
    topic: out
`;
const env = { SINK_TYPE: 'mqtt' };
const types = (registry: {
  sources: { type: string }[];
  sinks: { type: string }[];
  transforms: { type: string }[];
}) => ({
  sources: registry.sources.map((s) => s.type),
  transforms: registry.transforms.map((s) => s.type),
  sinks: registry.sinks.map((s) => s.type),
});

/** What the lazy registry and the full one make of the same text. */
async function both(text: string) {
  const registry = lazyBuiltinRegistry();
  const texts = [{ file: 'p.yaml', text }];
  const lazy = await loadPipelineTextsWithSpecs(texts, registry, { env });
  const full = loadPipelineTexts(texts, builtinRegistry, { env });
  return { registry, lazy, full };
}

describe('the built-in specs', () => {
  it('each import gives the spec of its kind and type, the one builtinRegistry lists', async () => {
    const lists: Record<ComponentKind, readonly { type: string }[]> = {
      source: builtinRegistry.sources,
      sink: builtinRegistry.sinks,
      transform: builtinRegistry.transforms,
    };
    for (const kind of ['source', 'sink', 'transform'] as const) {
      for (const [type, load] of Object.entries(builtinSpecs[kind])) {
        const spec = await load();
        expect([spec.kind, spec.type]).toEqual([kind, type]);
        expect(lists[kind]).toContain(spec);
      }
      expect(lists[kind].map((s) => s.type)).toEqual(Object.keys(builtinSpecs[kind]));
    }
  });
});

describe('lazyBuiltinRegistry (passerelle run)', () => {
  it('imports the specs a configuration names, and gives the result of the full registry', async () => {
    const { registry, lazy, full } = await both(relay);
    expect(lazy.issues).toEqual([]);
    expect(lazy).toEqual(full);
    // The sink's type comes from the environment: looked up after interpolation, loaded all the same.
    expect(types(registry)).toEqual({ sources: ['mqtt'], transforms: ['enrich'], sinks: ['mqtt'] });
  });

  it('adds the specs a later configuration names (a reload)', async () => {
    const registry = lazyBuiltinRegistry();
    await loadPipelineTextsWithSpecs([{ file: 'p.yaml', text: relay }], registry, { env });
    const text = relay.replace('type: enrich, fields: { site: lyon }', 'type: checksum');
    const again = await loadPipelineTextsWithSpecs([{ file: 'p.yaml', text }], registry, { env });
    expect(again.issues).toEqual([]);
    expect(types(registry).transforms).toEqual(['checksum', 'enrich']);
  });

  it('with issues, loads every spec: the messages list every type, as with the full registry', async () => {
    const cases = [
      relay.replace('type: enrich', 'type: enrych'), // unknown type: did you mean, and the list
      relay.replace('topic: out', 'topik: out'), // a key the mqtt sink does not have
      `schedule: { every: 1m }\n${relay}`, // a streaming source on a tick: the schedulable sources
      'name: nothing\n', // no source, no sinks
    ];
    for (const text of cases) {
      const { registry, lazy, full } = await both(text);
      expect(lazy.issues.length).toBeGreaterThan(0);
      expect(lazy).toEqual(full);
      expect(allComponents(registry)).toHaveLength(allComponents(builtinRegistry).length);
    }
  });
});
