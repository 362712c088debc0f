import type { PipelineConfig } from '../config/index.js';
import type { PipelinePlan } from '../engine/plan.js';
import { findComponent, type Registry } from '../registry/index.js';

/** Resolves validated pipeline configs to what the engine runs (component definitions, outbox policies in ms). */
export function toPlan(config: PipelineConfig, registry: Registry): PipelinePlan {
  const need = <D>(definition: D | undefined, what: string): D => {
    if (!definition)
      throw new Error(`pipeline ${config.name}: no ${what} (the config layer should have refused it)`);
    return definition;
  };
  return {
    name: config.name,
    source: {
      type: config.source.type,
      config: config.source.config,
      definition: need(findComponent(registry, 'source', config.source.type), `source ${config.source.type}`),
    },
    transforms: config.transforms.map((t) => ({
      type: t.type,
      config: t.config,
      definition: need(findComponent(registry, 'transform', t.type), `transform ${t.type}`),
    })),
    sinks: config.sinks.map((s) => ({
      name: s.name,
      type: s.type,
      config: s.config,
      definition: need(findComponent(registry, 'sink', s.type), `sink ${s.type}`),
      batch: { count: s.batch.count, bytes: s.batch.bytes, maxWaitMs: s.batch.maxWait },
      retry: {
        attempts: s.retry.attempts,
        initialDelayMs: s.retry.initialDelay,
        maxDelayMs: s.retry.maxDelay,
      },
      maxQueued: s.maxQueued,
      concurrency: s.concurrency,
    })),
    maxInFlight: config.maxInFlight,
    shutdownTimeoutMs: config.shutdownTimeout,
    deadLetters: {
      maxAgeMs: config.deadLetters.maxAge,
      maxCount: config.deadLetters.maxCount,
      maxMessageBytes: config.deadLetters.maxMessageBytes,
      maxBytes: config.deadLetters.maxBytes,
    },
  };
}
