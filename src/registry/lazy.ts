import type { SinkSpec, SourceSpec, TransformSpec } from '../sdk/index.js';
import { builtinSpecs } from './builtin-specs.js';
import type { ComponentKind, Registry } from './types.js';

type Spec = SourceSpec | SinkSpec | TransformSpec;

/**
 * The built-in registry of `passerelle run`: empty at first, it imports the spec of each type a
 * configuration names when the config loader asks (`loadPipelineTextsWithSpecs`, which validates
 * again with them, and with every spec when a configuration has issues, so that messages list every
 * type). A relay keeps the code of its own specs only (docs/architecture.md, "Specs, implementations
 * and idle memory").
 */
export function lazyBuiltinRegistry(): Registry {
  const lists = { source: [] as SourceSpec[], sink: [] as SinkSpec[], transform: [] as TransformSpec[] };
  const missed = new Map<ComponentKind, Set<string>>();

  /** Adds the specs of these types of a kind, in the order of builtin-specs.ts; true when the list grew. */
  async function load(kind: ComponentKind, types: Iterable<string>): Promise<boolean> {
    const imports: Record<string, () => Promise<Spec>> = builtinSpecs[kind];
    const list: Spec[] = lists[kind];
    const has = (type: string) => list.some((spec) => spec.type === type);
    const wanted = [...new Set(types)].filter((type) => Object.hasOwn(imports, type) && !has(type));
    const loaded = await Promise.all(wanted.map((type) => imports[type]!()));
    const added = loaded.filter((spec) => !has(spec.type));
    if (added.length === 0) return false;
    const order = Object.keys(imports);
    list.push(...added);
    list.sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type));
    return true;
  }

  async function loadEach(types: Map<ComponentKind, Iterable<string>>): Promise<boolean> {
    let grew = false;
    for (const [kind, list] of types) grew = (await load(kind, list)) || grew;
    return grew;
  }

  return {
    sources: lists.source,
    sinks: lists.sink,
    transforms: lists.transform,
    onDemand: {
      missed(kind, type) {
        let types = missed.get(kind);
        if (!types) missed.set(kind, (types = new Set()));
        types.add(type);
      },
      loadMissed() {
        const wanted = new Map<ComponentKind, Iterable<string>>();
        for (const [kind, types] of missed) {
          const known = Object.keys(builtinSpecs[kind]);
          // A type no built-in has: every spec of its kind, for the message that lists them.
          wanted.set(kind, [...types].every((type) => known.includes(type)) ? types : known);
        }
        missed.clear();
        return loadEach(wanted);
      },
      loadAll() {
        missed.clear();
        const kinds: ComponentKind[] = ['source', 'transform', 'sink'];
        return loadEach(new Map(kinds.map((kind) => [kind, Object.keys(builtinSpecs[kind])])));
      },
    },
  };
}
