import { describe, expect, it } from 'vitest';
import { SerialQueue } from './serial-queue.js';

/** A promise settled by hand. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SerialQueue', () => {
  it('runs tasks one at a time, in the order queued', async () => {
    const queue = new SerialQueue();
    const events: string[] = [];
    const first = deferred();
    const a = queue.run(async () => {
      events.push('a start');
      await first.promise;
      events.push('a end');
      return 'a';
    });
    const b = queue.run(() => {
      events.push('b');
      return 'b';
    });
    // b waits for a, however long a takes.
    await Promise.resolve();
    await Promise.resolve();
    expect(events).toEqual(['a start']);
    first.resolve();
    expect(await Promise.all([a, b])).toEqual(['a', 'b']);
    expect(events).toEqual(['a start', 'a end', 'b']);
  });

  it('a failed task fails for its caller only: the next one runs', async () => {
    const queue = new SerialQueue();
    const failing = queue.run(() => Promise.reject(new Error('boom')));
    const next = queue.run(() => 'next');
    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next');
  });

  it('a task that throws synchronously rejects its own promise, not the caller of run()', async () => {
    const queue = new SerialQueue();
    let ran = false;
    const thrown = queue.run(() => {
      throw new Error('sync');
    });
    const after = queue.run(() => (ran = true));
    await expect(thrown).rejects.toThrow('sync');
    await after;
    expect(ran).toBe(true);
  });

  it('idle() waits for everything queued so far, never rejects, and not for tasks queued later', async () => {
    const queue = new SerialQueue();
    await expect(queue.idle()).resolves.toBeUndefined(); // empty: at once
    const gate = deferred();
    const done: string[] = [];
    void queue.run(() => gate.promise.then(() => done.push('a')));
    queue.run(() => Promise.reject(new Error('ignored by idle'))).catch(() => undefined);
    const idle = queue.idle();
    const later = deferred();
    void queue.run(() => later.promise.then(() => done.push('later')));
    let idleSettled = false;
    void idle.then(() => (idleSettled = true));
    await Promise.resolve();
    expect(idleSettled).toBe(false);
    gate.resolve();
    await idle;
    // Resolved after a and the failure, while the task queued after idle() still waits.
    expect(done).toEqual(['a']);
    later.resolve();
    await queue.idle();
    expect(done).toEqual(['a', 'later']);
  });
});
