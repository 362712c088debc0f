import type { ComponentEntry, SinkEntry, SourceEntry, TransformEntry } from '../sdk/index.js';

export { loadComponent } from '../sdk/index.js';

/**
 * The components a process knows about. Built explicitly (no import side effects), so tests can pass
 * their own. Entries are specs (the built-in registry: implementations load on use, see
 * src/sdk/define.ts) or full definitions (test registries); `loadComponent()` gives the definition.
 */
export interface Registry {
  sources: SourceEntry[];
  sinks: SinkEntry[];
  transforms: TransformEntry[];
  /** Set when the lists fill on demand (`lazyBuiltinRegistry()`, ./lazy.ts). */
  onDemand?: SpecsOnDemand;
}

export type ComponentKind = ComponentEntry['kind'];

/**
 * How a registry whose specs load on demand is filled. `findComponent()` notes each type it did not
 * find; the config loader (`loadPipelineTextsWithSpecs`) loads them and validates again.
 */
export interface SpecsOnDemand {
  missed(kind: ComponentKind, type: string): void;
  /** Loads the specs of the types missed so far (every spec of its kind for a type it does not know); true when the lists grew. */
  loadMissed(): Promise<boolean>;
  /** Loads every spec; true when the lists grew. */
  loadAll(): Promise<boolean>;
}

interface DefinitionOfKind {
  source: SourceEntry;
  sink: SinkEntry;
  transform: TransformEntry;
}

function listOf<K extends ComponentKind>(registry: Registry, kind: K): DefinitionOfKind[K][] {
  const list: ComponentEntry[] =
    kind === 'source' ? registry.sources : kind === 'sink' ? registry.sinks : registry.transforms;
  return list as DefinitionOfKind[K][];
}

/**
 * The definitions of one kind, sorted by type so that listings and generated files are stable.
 * Types are ASCII names: compared by code unit, not with localeCompare(), whose first call maps
 * ICU's collation data (about 2.7 MB of resident memory in every `passerelle run`).
 */
export function componentsOf<K extends ComponentKind>(registry: Registry, kind: K): DefinitionOfKind[K][] {
  return [...listOf(registry, kind)].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

export function findComponent<K extends ComponentKind>(
  registry: Registry,
  kind: K,
  type: string,
): DefinitionOfKind[K] | undefined {
  const found = listOf(registry, kind).find((d) => d.type === type);
  if (!found) registry.onDemand?.missed(kind, type);
  return found;
}

/** Every definition, sources first, then transforms, then sinks; each group sorted by type. */
export function allComponents(registry: Registry): ComponentEntry[] {
  return [
    ...componentsOf(registry, 'source'),
    ...componentsOf(registry, 'transform'),
    ...componentsOf(registry, 'sink'),
  ];
}
