import { hostname } from 'node:os';
import {
  errorMessage,
  redact,
  type ComponentContext,
  type ConnectionState,
  type Logger,
  type MemoryBudget,
  type Message,
} from '../sdk/index.js';
import { componentMetrics } from './component-metrics.js';
import type { EngineMetrics } from './metrics.js';

/** The part of a pipeline's dependencies that its components' contexts carry. */
export interface PipelineContextDeps {
  pipeline: string;
  /** The pipeline's logger. */
  log: Logger;
  metrics: EngineMetrics;
  redisUrl?: string;
  identity?: string;
  memoryBudget?: MemoryBudget;
}

/** What a pipeline (streaming or scheduled) gives the contexts of its components. */
export interface ComponentContextDeps extends PipelineContextDeps {
  /** Level of the "connection state changed" line without an error (a scheduled source connects every run). */
  stateLogLevel: 'info' | 'debug';
  /** Records a component's state in the pipeline's status; absent for components without one (transforms). */
  setState?: (state: ConnectionState, error?: Error) => void;
  /** Stores a dead letter for `component`; the received count is already taken. */
  deadLetter: (component: string, message: Message, reason: string) => Promise<void>;
}

export function componentContext(
  deps: ComponentContextDeps,
  component: string,
  type: string,
): ComponentContext {
  const { pipeline, metrics } = deps;
  const logger = deps.log.child({ component, type });
  return {
    pipeline,
    component,
    logger,
    setState: (state, error) => {
      deps.setState?.(state, error);
      if (error) logger.warn({ state, err: redact(errorMessage(error)) }, 'connection state changed');
      else logger[deps.stateLogLevel]({ state }, 'connection state changed');
    },
    countDropped: (count, reason) => {
      metrics.dropped.inc({ pipeline, component, reason }, count);
      logger.warn({ count, reason }, 'messages dropped');
    },
    deadLetter: async (message, reason) => {
      // An undecodable message was received: it counts as received and as dead-lettered.
      metrics.received.inc({ pipeline });
      await deps.deadLetter(component, message, reason);
    },
    metrics: componentMetrics(metrics.registry, pipeline, component),
    ...(deps.redisUrl ? { redisUrl: deps.redisUrl } : {}),
    ...(deps.memoryBudget ? { memoryBudget: deps.memoryBudget } : {}),
    leaseOwner: leaseOwner(deps, component),
  };
}

/** `<instance>/<pipeline>/<component>`: the same owner after a restart takes its lease back at once. */
export function leaseOwner(deps: { pipeline: string; identity?: string }, component: string): string {
  return `${deps.identity ?? hostname()}/${deps.pipeline}/${component}`;
}
