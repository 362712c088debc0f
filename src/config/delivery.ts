import type { DeliveryGuarantee } from '../sdk/index.js';
import { findComponent, type Registry } from '../registry/types.js';
import type { PipelineConfig } from './pipeline-schema.js';

export interface SinkDelivery {
  name: string;
  type: string;
  /** What this path guarantees end to end: at-least-once only when the source and the sink both do. */
  delivery: DeliveryGuarantee;
  /** True when the sink dedupes redelivered batches (by message id). */
  idempotent: boolean;
  /** Where the target may keep less than every message, as configured (absent when nowhere). */
  caveats?: string[];
}

export interface DeliveryReport {
  source: { type: string; delivery: DeliveryGuarantee };
  sinks: SinkDelivery[];
}

export function effectiveDelivery(pipeline: PipelineConfig, registry: Registry): DeliveryReport {
  const source = findComponent(registry, 'source', pipeline.source.type);
  if (!source) throw new Error(`source type '${pipeline.source.type}' is not in the registry`);
  const sourceDelivery = source.delivery(pipeline.source.config);
  return {
    source: { type: pipeline.source.type, delivery: sourceDelivery },
    sinks: pipeline.sinks.map((s) => {
      const sink = findComponent(registry, 'sink', s.type);
      if (!sink) throw new Error(`sink type '${s.type}' is not in the registry`);
      const both = sourceDelivery === 'at-least-once' && sink.delivery(s.config) === 'at-least-once';
      const caveats = sink.caveats?.(s.config) ?? [];
      return {
        name: s.name,
        type: s.type,
        delivery: both ? 'at-least-once' : 'best-effort',
        idempotent: sink.idempotent?.(s.config) ?? false,
        ...(caveats.length > 0 ? { caveats } : {}),
      };
    }),
  };
}

/** `plant-relay: valid — source mqtt (at-least-once) -> sinks: mqtt at-least-once, influx at-least-once (idempotent)` */
export function formatDeliveryLine(pipeline: PipelineConfig, report: DeliveryReport): string {
  const sinks = report.sinks
    .map(
      (s) =>
        `${s.name === s.type ? s.name : `${s.name} (${s.type})`} ${s.delivery}${s.idempotent ? ', idempotent' : ''}`,
    )
    .join('; ');
  return `${pipeline.name}: valid — source ${report.source.type} (${report.source.delivery}) -> sinks: ${sinks}`;
}

/** One indented line per caveat of a sink, under the pipeline's line: `  history (influxdb): ...`. */
export function formatDeliveryCaveats(report: DeliveryReport): string[] {
  return report.sinks.flatMap((s) =>
    (s.caveats ?? []).map((c) => `  ${s.name === s.type ? s.name : `${s.name} (${s.type})`}: ${c}`),
  );
}
