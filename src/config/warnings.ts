import { findComponent, type ComponentKind, type Registry } from '../registry/types.js';
import type { PipelineConfig } from './pipeline-schema.js';
import type { PathSegment } from './schema-walk.js';

export interface PipelineWarning {
  /** Full path inside the pipeline document: `source.password`, `sinks[0].password`. */
  path: PathSegment[];
  message: string;
}

/** What the components say about a valid pipeline's settings (`warnings()` of each definition). */
export function pipelineWarnings(pipeline: PipelineConfig, registry: Registry): PipelineWarning[] {
  const components: [ComponentKind, PathSegment[], { type: string; config: unknown }][] = [
    ['source', ['source'], pipeline.source],
    ...pipeline.transforms.map(
      (t, i) => ['transform', ['transforms', i], t] as [ComponentKind, PathSegment[], typeof t],
    ),
    ...pipeline.sinks.map((s, i) => ['sink', ['sinks', i], s] as [ComponentKind, PathSegment[], typeof s]),
  ];
  const out: PipelineWarning[] = [];
  for (const [kind, at, component] of components) {
    const definition = findComponent(registry, kind, component.type);
    for (const w of definition?.warnings?.(component.config as never) ?? [])
      out.push({ path: [...at, ...w.path], message: w.message });
  }
  return out;
}
