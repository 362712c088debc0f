import type { PipelineConfig } from '../config/index.js';
import type { PipelinePlan } from '../engine/plan.js';
import { findComponent, loadComponent, type Registry } from '../registry/types.js';

/**
 * Resolves validated pipeline configs to what the engine runs (component definitions, outbox policies
 * in ms). Loads the implementation of each component the pipeline uses, and only those (the registry
 * holds specs): a process running mqtt -> mqtt never loads node-opcua or exceljs.
 */
export async function toPlan(config: PipelineConfig, registry: Registry): Promise<PipelinePlan> {
  const need = <D>(definition: D | undefined, what: string): D => {
    if (!definition)
      throw new Error(`pipeline ${config.name}: no ${what} (the config layer should have refused it)`);
    return definition;
  };
  const [source, transforms, sinks] = await Promise.all([
    loadComponent(
      need(findComponent(registry, 'source', config.source.type), `source ${config.source.type}`),
    ),
    Promise.all(
      config.transforms.map((t) =>
        loadComponent(need(findComponent(registry, 'transform', t.type), `transform ${t.type}`)),
      ),
    ),
    Promise.all(
      config.sinks.map((s) => loadComponent(need(findComponent(registry, 'sink', s.type), `sink ${s.type}`))),
    ),
  ]);
  return {
    name: config.name,
    source: {
      type: config.source.type,
      config: config.source.config,
      definition: source,
    },
    transforms: config.transforms.map((t, i) => ({
      type: t.type,
      config: t.config,
      definition: transforms[i]!,
    })),
    sinks: config.sinks.map((s, i) => ({
      name: s.name,
      type: s.type,
      config: s.config,
      definition: sinks[i]!,
      batch: { count: s.batch.count, bytes: s.batch.bytes, maxWaitMs: s.batch.maxWait },
      retry: {
        attempts: s.retry.attempts,
        initialDelayMs: s.retry.initialDelay,
        maxDelayMs: s.retry.maxDelay,
      },
      maxQueued: s.maxQueued,
      concurrency: s.concurrency,
    })),
    maxUnsettled: config.maxUnsettled,
    shutdownTimeoutMs: config.shutdownTimeout,
    deadLetters: {
      maxAgeMs: config.deadLetters.maxAge,
      maxCount: config.deadLetters.maxCount,
      maxMessageBytes: config.deadLetters.maxMessageBytes,
      maxBytes: config.deadLetters.maxBytes,
    },
    ...(config.schedule ? { schedule: config.schedule } : {}),
  };
}
