/**
 * Runs tasks one at a time, in the order they were queued: the next starts once the previous has
 * settled. A task that fails (rejects or throws) fails only for its caller; later tasks still run.
 * Replaces the hand-written `chain = chain.then(task); chain = run.catch(...)` pattern.
 */
export class SerialQueue {
  /** Settles after the last queued task; never rejects. */
  private tail: Promise<void> = Promise.resolve();

  /** Queues `task`; resolves or rejects with its outcome once it has run. */
  run<T>(task: () => T | Promise<T>): Promise<T> {
    const turn = this.tail.then(task);
    this.tail = turn.then(ignore, ignore);
    return turn;
  }

  /** Resolves once every task queued so far has settled (whatever their outcome); never rejects. */
  idle(): Promise<void> {
    return this.tail;
  }
}

function ignore(): void {}
