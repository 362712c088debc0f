import {
  backoffDelay,
  errorMessage,
  redact,
  sleep,
  untilAborted,
  type ConnectionState,
  type Logger,
} from '../sdk/index.js';

/** A component's connection as the status shows it. */
export interface ComponentStatus {
  component: string;
  type: string;
  state: ConnectionState;
  lastError?: { message: string; time: number };
}

/**
 * Connects a source or sink, retrying with backoff until it succeeds or `signal` aborts. `setState`
 * records each state (the caller updates its status, metrics and outbox).
 */
export async function connectWithRetry(
  label: string,
  status: ComponentStatus,
  connect: (signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
  log: Logger,
  setState: (status: ComponentStatus, state: ConnectionState, error?: Error) => void,
): Promise<void> {
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      // A connect that ignores the signal must not hold up a shutdown.
      await untilAborted(connect(signal), signal);
      if (signal.aborted) return;
      if (status.state === 'connecting' || status.state === 'reconnecting') setState(status, 'connected');
      return;
    } catch (error) {
      const delay = backoffDelay(attempt, 500, 30_000);
      setState(status, 'reconnecting', error as Error);
      log.warn(
        { component: status.component, delayMs: delay, err: redact(errorMessage(error)) },
        `${label} could not connect, retrying`,
      );
      await sleep(delay, signal);
    }
  }
}
