import type { Logger, MemoryBudget } from '../sdk/index.js';
import { createMemoryBackend } from './memory.js';
import type { DeadLetterRetention, OutboxBackend } from './types.js';

export type * from './types.js';
export { createMemoryBackend, MemoryDeadLetters, MemoryOutbox, type MemoryBackendOptions } from './memory.js';
export { RedisDeadLetters, type RedisDeadLettersOptions } from './redis-dead-letters.js';
export { OutboxClosedError } from './batcher.js';
export { backoffDelay } from './policy.js';
export {
  decodeJob,
  decodeMessage,
  decodeMessages,
  encodeJob,
  encodeMessage,
  encodeMessages,
  messagesFromJson,
  messagesToJson,
  type EncodedMessage,
  type JobData,
} from './codec.js';
export type { RedisBackendOptions } from './bullmq.js';

export interface OutboxBackendOptions {
  /** Without it the outboxes are in memory (lost on a crash, said loudly at start). */
  redisUrl?: string;
  retention: DeadLetterRetention;
  /** BullMQ job lock (ms): how soon a job of a dead worker comes back. Default 30 s. */
  lockDurationMs?: number;
  logger?: Logger;
  /** Redis key prefix (default `passerelle`). */
  prefix?: string;
  connectTimeoutMs?: number;
  /** The process's memory budget; the memory outbox counts what it holds in it. */
  memoryBudget?: MemoryBudget;
}

/** Redis (BullMQ) when a URL is given, memory otherwise. bullmq is loaded only when needed. */
export async function createOutboxBackend(options: OutboxBackendOptions): Promise<OutboxBackend> {
  if (!options.redisUrl)
    return createMemoryBackend(options.retention, {
      logger: options.logger,
      memoryBudget: options.memoryBudget,
    });
  const { createRedisBackend } = await import('./bullmq.js');
  return createRedisBackend({
    url: options.redisUrl,
    retention: options.retention,
    lockDurationMs: options.lockDurationMs,
    logger: options.logger,
    prefix: options.prefix,
    connectTimeoutMs: options.connectTimeoutMs,
  });
}

/** The Redis backend directly (loads bullmq). */
export async function createRedisBackend(
  options: import('./bullmq.js').RedisBackendOptions,
): Promise<OutboxBackend> {
  return (await import('./bullmq.js')).createRedisBackend(options);
}
