/**
 * How long one piece of work holds the event loop. Measured in CPU time of the process, not wall
 * time: on a busy test machine the process may wait for a core, which is no fault of the code.
 */

/** No single message may hold the event loop longer than this. */
export const BLOCK_LIMIT_MS = 100;

const cpuMs = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

export interface Measured<T> {
  /** Longest CPU time between two turns of the event loop while the work ran. */
  blockedMs: number;
  value?: T;
  error?: unknown;
}

/**
 * Runs `work` (synchronous or not) while a callback re-queued at every turn of the event loop
 * notes the CPU time used since the previous turn; the longest stretch is how long the work kept
 * everything else (timers, sockets, /healthz) waiting.
 */
export async function measureBlocking<T>(work: () => T | Promise<T>): Promise<Measured<Awaited<T>>> {
  let last = cpuMs();
  let longest = 0;
  let running = true;
  const turn = () => {
    const now = cpuMs();
    longest = Math.max(longest, now - last);
    last = now;
    if (running) setImmediate(turn);
  };
  setImmediate(turn);
  const result: Measured<Awaited<T>> = { blockedMs: 0 };
  try {
    result.value = await work();
  } catch (error) {
    result.error = error;
  } finally {
    running = false;
  }
  result.blockedMs = Math.max(longest, cpuMs() - last);
  return result;
}

/**
 * measureBlocking for work that can run again with the same result (a transform on the same
 * message): a stretch over the limit is measured a second time, and the shorter one counts. The
 * CPU time is the whole process's, garbage-collector threads included, so a major collection of
 * the test process can land inside one turn; a message that really holds the loop does so on
 * every run, and still fails.
 */
export async function measureRepeatableBlocking<T>(
  work: () => T | Promise<T>,
): Promise<Measured<Awaited<T>>> {
  const first = await measureBlocking(work);
  if (first.blockedMs < BLOCK_LIMIT_MS) return first;
  const second = await measureBlocking(work);
  return second.blockedMs < first.blockedMs ? second : first;
}
