import type {
  ComponentDefinition,
  SinkDefinition,
  SourceDefinition,
  TransformDefinition,
} from '../sdk/index.js';

/** The components a process knows about. Built explicitly (no import side effects), so tests can pass their own. */
export interface Registry {
  sources: SourceDefinition[];
  sinks: SinkDefinition[];
  transforms: TransformDefinition[];
}

export type ComponentKind = ComponentDefinition['kind'];

interface DefinitionOfKind {
  source: SourceDefinition;
  sink: SinkDefinition;
  transform: TransformDefinition;
}

/** The definitions of one kind, sorted by type so that listings and generated files are stable. */
export function componentsOf<K extends ComponentKind>(registry: Registry, kind: K): DefinitionOfKind[K][] {
  const list: ComponentDefinition[] =
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
export function allComponents(registry: Registry): ComponentDefinition[] {
  return [
    ...componentsOf(registry, 'source'),
    ...componentsOf(registry, 'transform'),
    ...componentsOf(registry, 'sink'),
  ];
}
