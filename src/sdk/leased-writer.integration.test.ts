import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/conformance/context.js';
import { startRedis, type ServiceHandle } from '../../test/harness/services.js';
import type { ConnectionState } from './define.js';
import { NotConnectedError } from './errors.js';
import { LeasedWriter, type FenceStore } from './leased-writer.js';
import { silentLogger } from './logger.js';

const TTL = 600;
let redis: ServiceHandle;
let admin: Redis;
let keyCounter = 0;
const newKey = (): string => `test:leased-writer:${process.pid}:${++keyCounter}`;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});
afterAll(async () => {
  admin?.disconnect();
  await redis?.dispose();
});

/** The target both replicas share (a folder, for the Excel sink): here, one token in memory. */
function sharedFence(): FenceStore & { token: number } {
  return {
    token: 0,
    write(token) {
      this.token = token;
      return Promise.resolve();
    },
    read() {
      return Promise.resolve(this.token);
    },
  };
}

/** A writer whose hooks and states are recorded, with the time of each. */
function replica(key: string, fence: FenceStore | undefined) {
  const events: { what: string; at: number }[] = [];
  const states: ConnectionState[] = [];
  const writer = new LeasedWriter({
    redisUrl: redis.url,
    key,
    ttlMs: TTL,
    logger: silentLogger,
    component: 'test',
    target: 'the target',
    ...(fence ? { fence } : {}),
    setState: (state) => void states.push(state),
    hooks: {
      standBy: async () => void events.push({ what: 'standBy', at: Date.now() }),
      recover: async () => void events.push({ what: 'recover', at: Date.now() }),
      failed: (error) => void events.push({ what: `failed: ${String(error)}`, at: Date.now() }),
    },
  });
  const saw = (what: string) => events.some((e) => e.what === what);
  return { writer, events, states, saw };
}

describe('LeasedWriter', () => {
  it('one writer: the other stands by; after a takeover the old one is fenced, stands by, waits a TTL and takes the target back', async () => {
    const key = newKey();
    const fence = sharedFence();
    const a = replica(key, fence);
    const b = replica(key, fence);
    try {
      await a.writer.acquire(AbortSignal.timeout(10_000));
      a.writer.serve();
      expect(fence.token).toBe(a.writer.token);
      await a.writer.checkFence(); // the holder passes

      const bAcquired = b.writer.acquire(AbortSignal.timeout(20_000));
      expect(b.states).toEqual(['standby']);

      // A's lease vanishes (its host was cut off and the lease expired): B takes it and records
      // its higher token, which refuses A before A's renewal even notices.
      await admin.del(key);
      await bAcquired;
      b.writer.serve();
      expect(fence.token).toBe(b.writer.token);
      expect(b.writer.token).toBeGreaterThan(a.writer.token);
      await expect(a.writer.checkFence()).rejects.toBeInstanceOf(NotConnectedError);

      // A notices at its next renewal: standby, its work is drained and dropped.
      await waitFor(() => a.saw('standBy'), 'A to stand by');
      expect(a.states.at(-1)).toBe('standby');
      expect(a.writer.lost).toBe(true);

      // B goes away: A takes the target back, no sooner than a TTL after its loss.
      await b.writer.release();
      await waitFor(() => a.saw('recover'), 'A to recover', 10_000);
      await waitFor(() => a.states.at(-1) === 'connected', 'A to be connected');
      const lostAt = a.events.find((e) => e.what === 'standBy')!.at;
      const recoveredAt = a.events.find((e) => e.what === 'recover')!.at;
      expect(recoveredAt - lostAt).toBeGreaterThanOrEqual(TTL);
      expect(a.events.map((e) => e.what)).toEqual(['standBy', 'recover']);
      expect(a.writer.lost).toBe(false);
      expect(a.writer.token).toBeGreaterThan(b.writer.token);
      expect(fence.token).toBe(a.writer.token);
      await a.writer.checkFence();
    } finally {
      await a.writer.release();
      await b.writer.release();
    }
  });

  it('release() while standing by ends the takeover: it never recovers, and does not compete again', async () => {
    const key = newKey();
    const a = replica(key, sharedFence());
    await a.writer.acquire(AbortSignal.timeout(10_000));
    a.writer.serve();
    // Another owner holds the key now: A's next renewal finds the lease gone.
    await admin.set(key, 'someone-else/x#99', 'PX', 60_000);
    await waitFor(() => a.saw('standBy'), 'A to stand by');
    // Resolves once the loss handling is over (it was waiting out its TTL).
    await a.writer.release();
    expect(a.events.map((e) => e.what)).toEqual(['standBy']);
    expect(await admin.get(key)).toBe('someone-else/x#99');
    expect(a.states.at(-1)).toBe('standby');
  });

  it('a token that can not be recorded at the target fails the acquisition and frees the lease', async () => {
    const key = newKey();
    const failing: FenceStore = {
      write: () => Promise.reject(new Error('read-only folder')),
      read: () => Promise.resolve(0),
    };
    const a = replica(key, failing);
    await expect(a.writer.acquire(AbortSignal.timeout(10_000))).rejects.toThrow('read-only folder');
    expect(await admin.get(key)).toBeNull();
    await a.writer.release();
  });

  it('a loss before the writer serves is handled once it does', async () => {
    const key = newKey();
    const a = replica(key, sharedFence());
    try {
      await a.writer.acquire(AbortSignal.timeout(10_000));
      await admin.set(key, 'someone-else/x#99', 'PX', 60_000);
      await waitFor(() => a.writer.lost, 'the lease to be lost');
      expect(a.events).toEqual([]); // the sink is still connecting: nothing to stand by yet
      a.writer.serve();
      await waitFor(() => a.saw('standBy'), 'A to stand by');
    } finally {
      await a.writer.release();
    }
  });
  it('without a FenceStore (a target that keeps no token): writes are refused once the lease is lost, and it is taken back', async () => {
    const key = newKey();
    const a = replica(key, undefined);
    try {
      await a.writer.acquire(AbortSignal.timeout(10_000));
      a.writer.serve();
      await a.writer.checkFence();
      await admin.set(key, 'someone-else/x#99', 'PX', 2 * TTL);
      await waitFor(() => a.saw('standBy'), 'A to stand by');
      await expect(a.writer.checkFence()).rejects.toBeInstanceOf(NotConnectedError);
      // The other owner's lease expires: A takes the target back.
      await waitFor(() => a.states.at(-1) === 'connected', 'A to be connected again', 10_000);
      expect(a.events.map((e) => e.what)).toEqual(['standBy', 'recover']);
      await a.writer.checkFence();
    } finally {
      await a.writer.release();
    }
  });
});
