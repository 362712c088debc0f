import { Registry } from 'prom-client';
import { componentMetrics } from '../../src/engine/component-metrics.js';
import type { ComponentContext, ConnectionState, Logger, Message } from '../../src/sdk/index.js';

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: object | string;
  msg?: string;
}

/** A ComponentContext for tests that records what the component reported. */
export interface FakeContext extends ComponentContext {
  states: { state: ConnectionState; error?: Error }[];
  deadLetters: { message: Message; reason: string }[];
  dropped: { count: number; reason: string }[];
  /** Every log line, as given to the logger (children log here too). */
  logs: LogEntry[];
  /** The registry behind `metrics`, to read what the component exported. */
  registry: Registry;
  /** The last state reported, if any. */
  readonly state: ConnectionState | undefined;
  /** Resolves once `state` has been reported (now or later); rejects after the timeout. */
  waitForState(state: ConnectionState, timeoutMs?: number): Promise<void>;
}

export interface FakeContextOptions {
  /** What storing a dead letter does; default: succeeds at once. */
  deadLetter?: (message: Message, reason: string) => Promise<void>;
  /** Handed to the component as `ctx.redisUrl`. */
  redisUrl?: string;
}

export function createFakeContext(options: FakeContextOptions = {}): FakeContext {
  const waiters: { state: ConnectionState; resolve: () => void }[] = [];
  const logs: LogEntry[] = [];
  const logger: Logger = {
    debug: (obj, msg) => void logs.push({ level: 'debug', obj, msg }),
    info: (obj, msg) => void logs.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => void logs.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => void logs.push({ level: 'error', obj, msg }),
    child: () => logger,
  };
  const registry = new Registry();
  const ctx: FakeContext = {
    pipeline: 'test',
    component: 'test',
    logger,
    registry,
    metrics: componentMetrics(registry, 'test', 'test'),
    ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
    logs,
    states: [],
    deadLetters: [],
    dropped: [],
    get state() {
      return ctx.states.at(-1)?.state;
    },
    setState(state, error) {
      ctx.states.push(error ? { state, error } : { state });
      for (const w of waiters.splice(0)) {
        if (w.state === state) w.resolve();
        else waiters.push(w);
      }
    },
    countDropped(count, reason) {
      ctx.dropped.push({ count, reason });
    },
    async deadLetter(message, reason) {
      if (options.deadLetter) await options.deadLetter(message, reason);
      ctx.deadLetters.push({ message, reason });
    },
    waitForState(state, timeoutMs = 10_000) {
      if (ctx.state === state) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `state ${state} not reported within ${timeoutMs} ms (states: ${ctx.states.map((s) => s.state).join(', ')})`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          state,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
  return ctx;
}

/** Polls until `check` returns a truthy value; rejects with `what` after the timeout. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
