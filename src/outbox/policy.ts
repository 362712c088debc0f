import {
  BatchError,
  FatalError,
  NotConnectedError,
  RetryableError,
  SinkStoppedError,
  errorMessage,
  type Message,
} from '../sdk/index.js';
import type { JobHandler, RetryPolicy } from './types.js';

/** What to do after one attempt of a job: shared by the memory and the BullMQ outbox. */
export interface Outcome {
  delivered: number;
  /** Messages to dead-letter, grouped by reason. */
  dead: { messages: Message[]; reason: string; attempts: number }[];
  /**
   * Messages to store again as a delayed job. `notConnected`: the sink was not connected (no attempt
   * used); the job waits for the sink to connect, `delayMs` only applies while the sink claims to be.
   */
  retry?: { messages: Message[]; attempt: number; delayMs: number; error: Error; notConnected?: boolean };
  /** Set by SinkStoppedError: the job (or its failed part) is kept and processing pauses. */
  stopped?: Error;
}

/** Exponential backoff with full jitter, from `initialDelayMs` doubling up to `maxDelayMs`. */
export function backoffDelay(policy: RetryPolicy, failures: number): number {
  const exp = Math.min(
    policy.maxDelayMs,
    policy.initialDelayMs * 2 ** Math.min(Math.max(failures - 1, 0), 30),
  );
  return Math.floor(Math.random() * exp);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(errorMessage(error));
}

/**
 * Consecutive NotConnectedError failures of one outbox while its sink claims to be connected (its
 * state lags behind): they space out those retries without using up any job's attempts. Reset when
 * the sink connects again and after a write that went through.
 */
export class ConnectionBackoff {
  failures = 0;
  constructor(private readonly policy: RetryPolicy) {}
  next(): number {
    this.failures++;
    // At least a tenth of the cap so a dead sink is not hammered by near-zero jittered delays.
    const exp = Math.min(
      this.policy.maxDelayMs,
      this.policy.initialDelayMs * 2 ** Math.min(this.failures - 1, 30),
    );
    return Math.floor(exp / 2 + (Math.random() * exp) / 2);
  }
  reset(): void {
    this.failures = 0;
  }
}

/** Runs one attempt and maps the handler's result to an outcome (docs/architecture.md, "The data path", step 5). */
export async function runAttempt(
  handler: JobHandler,
  messages: Message[],
  attempt: number,
  policy: RetryPolicy,
  conn: ConnectionBackoff,
  signal: AbortSignal,
): Promise<Outcome> {
  try {
    await handler(messages, { attempt, signal });
    conn.reset();
    return { delivered: messages.length, dead: [] };
  } catch (caught) {
    const error = asError(caught);
    if (error instanceof SinkStoppedError) {
      return { delivered: 0, dead: [], retry: { messages, attempt, delayMs: 0, error }, stopped: error };
    }
    if (error instanceof NotConnectedError) {
      return {
        delivered: 0,
        dead: [],
        retry: { messages, attempt, delayMs: conn.next(), error, notConnected: true },
      };
    }
    conn.reset();
    if (error instanceof FatalError) {
      return { delivered: 0, dead: [{ messages, reason: error.message, attempts: attempt }] };
    }
    if (error instanceof BatchError) return batchOutcome(error, messages, attempt, policy, conn);
    return retryOrDead(error, messages, attempt, policy);
  }
}

function retryOrDead(error: Error, messages: Message[], attempt: number, policy: RetryPolicy): Outcome {
  if (attempt >= policy.attempts) {
    return { delivered: 0, dead: [{ messages, reason: error.message, attempts: attempt }] };
  }
  let delayMs = backoffDelay(policy, attempt);
  if (error instanceof RetryableError && error.retryAfterMs !== undefined)
    delayMs = Math.max(delayMs, error.retryAfterMs);
  return { delivered: 0, dead: [], retry: { messages, attempt: attempt + 1, delayMs, error } };
}

function batchOutcome(
  error: BatchError,
  messages: Message[],
  attempt: number,
  policy: RetryPolicy,
  conn: ConnectionBackoff,
): Outcome {
  const failed = new Map<number, Error>();
  for (const f of error.failures) {
    if (Number.isInteger(f.index) && f.index >= 0 && f.index < messages.length)
      failed.set(f.index, asError(f.error));
  }
  const fatal = new Map<string, Message[]>();
  const again: Message[] = [];
  let lastError: Error | undefined;
  let stopped: Error | undefined;
  let allNotConnected = true;
  let retryAfterMs: number | undefined;
  // Indices in order so the retried job keeps the original message order.
  for (const [index, err] of [...failed].sort((a, b) => a[0] - b[0])) {
    const m = messages[index] as Message;
    if (err instanceof FatalError) {
      const list = fatal.get(err.message);
      if (list) list.push(m);
      else fatal.set(err.message, [m]);
      continue;
    }
    again.push(m);
    lastError = err;
    if (err instanceof SinkStoppedError) stopped = err;
    if (!(err instanceof NotConnectedError)) allNotConnected = false;
    if (err instanceof RetryableError && err.retryAfterMs !== undefined) {
      retryAfterMs = Math.max(retryAfterMs ?? 0, err.retryAfterMs);
    }
  }
  const outcome: Outcome = {
    delivered: messages.length - failed.size,
    dead: [...fatal].map(([reason, list]) => ({ messages: list, reason, attempts: attempt })),
  };
  if (again.length === 0 || !lastError) return outcome;
  if (stopped) {
    outcome.retry = { messages: again, attempt, delayMs: 0, error: stopped };
    outcome.stopped = stopped;
  } else if (allNotConnected) {
    outcome.retry = { messages: again, attempt, delayMs: conn.next(), error: lastError, notConnected: true };
  } else if (attempt >= policy.attempts) {
    outcome.dead.push({ messages: again, reason: lastError.message, attempts: attempt });
  } else {
    let delayMs = backoffDelay(policy, attempt);
    if (retryAfterMs !== undefined) delayMs = Math.max(delayMs, retryAfterMs);
    outcome.retry = { messages: again, attempt: attempt + 1, delayMs, error: lastError };
  }
  return outcome;
}
