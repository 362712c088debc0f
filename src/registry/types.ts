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
}

export type ComponentKind = ComponentEntry['kind'];

interface DefinitionOfKind {
  source: SourceEntry;
  sink: SinkEntry;
  transform: TransformEntry;
}

/** The definitions of one kind, sorted by type so that listings and generated files are stable. */
export function componentsOf<K extends ComponentKind>(registry: Registry, kind: K): DefinitionOfKind[K][] {
  const list: ComponentEntry[] =
    kind === 'source' ? registry.sources : kind === 'sink' ? registry.sinks : registry.transforms;
  return [...(list as DefinitionOfKind[K][])].sort((a, b) => a.type.localeCompare(b.type));
}

export function findComponent<K extends ComponentKind>(
  registry: Registry,
  kind: K,
  type: string,
): DefinitionOfKind[K] | undefined {
  return componentsOf(registry, kind).find((d) => d.type === type);
}

/** Every definition, sources first, then transforms, then sinks; each group sorted by type. */
export function allComponents(registry: Registry): ComponentEntry[] {
  return [
    ...componentsOf(registry, 'source'),
    ...componentsOf(registry, 'transform'),
    ...componentsOf(registry, 'sink'),
  ];
}
