import { createServer, connect, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeContext, waitFor } from '../../test/conformance/context.js';
import { startRedis, type ServiceHandle } from '../../test/harness/services.js';
import { acquireLease, LeaseAbortedError, LeaseLostError, LeaseTakenBackError, type Lease } from './lease.js';

const TTL = 600;
let redis: ServiceHandle;
let admin: Redis;
let keyCounter = 0;
const newKey = (): string => `test:lease:${process.pid}:${++keyCounter}`;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});
afterAll(async () => {
  admin?.disconnect();
  await redis?.dispose();
});

/** A TCP relay to Redis that can be cut, as when the holder's host dies or is partitioned away. */
async function cuttableProxy(port: number): Promise<{ url: string; cut(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const proxyPort = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `redis://127.0.0.1:${proxyPort}`,
    cut: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Waits for a value that may not be there yet; resolves with it, defined. */
async function eventually<T>(check: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  return (await waitFor(check, what, timeoutMs)) as T;
}

/** Tracks whether a pending acquisition has resolved, without awaiting it. */
function track(promise: Promise<Lease>): { lease?: Lease; at?: number; error?: unknown } {
  const state: { lease?: Lease; at?: number; error?: unknown } = {};
  promise.then(
    (lease) => {
      state.lease = lease;
      state.at = Date.now();
    },
    (error: unknown) => (state.error = error),
  );
  return state;
}

describe('acquireLease (real Redis)', () => {
  it('is exclusive while held and renewed past its ttl, and passes on at release with a higher token', async () => {
    const key = newKey();
    const controller = new AbortController();
    const first = await acquireLease({
      redisUrl: redis.url,
      key,
      ttlMs: TTL,
      owner: 'a',
      signal: controller.signal,
    });
    const second = track(
      acquireLease({ redisUrl: redis.url, key, ttlMs: TTL, owner: 'b', signal: controller.signal }),
    );
    // Three ttls: without renewals the key would have expired and the second owner would hold it.
    const until = Date.now() + 3 * TTL;
    await waitFor(() => second.lease !== undefined || Date.now() > until, 'three ttls', 5_000);
    expect(second.lease).toBeUndefined();
    expect(first.lost.aborted).toBe(false);
    expect(await first.stillHeld()).toBe(true);
    expect(await admin.get(key)).toMatch(/^a\//);

    await first.release();
    expect(await first.stillHeld()).toBe(false);
    const b = await eventually(() => second.lease, 'second owner to take the released lease', 5_000);
    expect(b.owner).toBe('b');
    expect(b.token).toBeGreaterThan(first.token);
    expect(first.lost.aborted).toBe(false); // released, not lost
    await b.release();
    await b.release(); // idempotent
    expect(await admin.exists(key)).toBe(0);
  });

  it('lets exactly one of several contenders win, and numbers every acquisition in order', async () => {
    const key = newKey();
    const controller = new AbortController();
    const contenders = ['a', 'b', 'c', 'd'].map((owner) =>
      track(acquireLease({ redisUrl: redis.url, key, ttlMs: TTL, owner, signal: controller.signal })),
    );
    const tokens: number[] = [];
    for (let round = 0; round < 4; round++) {
      const holder = await eventually(() => {
        const held = contenders.filter(
          (c) => c.lease && !c.lease.lost.aborted && !tokens.includes(c.lease.token),
        );
        return held.length > 0 ? held : undefined;
      }, `round ${round} holder`);
      expect(holder).toHaveLength(1);
      const lease = holder[0]!.lease!;
      tokens.push(lease.token);
      await lease.release();
    }
    expect(tokens).toEqual([...tokens].sort((x, y) => x - y));
    expect(new Set(tokens).size).toBe(4);
    expect(new Set(contenders.map((c) => c.lease?.owner)).size).toBe(4);
  });

  it('moves to a waiting owner within the ttl when the holder stops renewing, and the old holder knows it lost first', async () => {
    const key = newKey();
    const proxy = await cuttableProxy(redis.port);
    const controller = new AbortController();
    let lostReason: Error | undefined;
    const doomed = await acquireLease({
      redisUrl: proxy.url,
      key,
      ttlMs: TTL,
      owner: 'doomed',
      signal: controller.signal,
      onLost: (reason) => (lostReason = reason),
    });
    let lostAt = 0;
    doomed.lost.addEventListener('abort', () => (lostAt = Date.now()));
    const waiting = track(
      acquireLease({ redisUrl: redis.url, key, ttlMs: TTL, owner: 'heir', signal: controller.signal }),
    );
    const cutAt = Date.now();
    await proxy.cut();
    const heir = await eventually(() => waiting.lease, 'the heir to take over', 5_000);
    // Takeover within the ttl after the holder's last renewal (plus scheduling slack on a busy machine).
    expect(waiting.at! - cutAt).toBeLessThan(TTL + 1_000);
    expect(doomed.lost.aborted).toBe(true);
    expect(lostAt).toBeGreaterThan(0);
    expect(lostAt).toBeLessThanOrEqual(waiting.at!);
    expect(lostReason).toBeInstanceOf(LeaseLostError);
    expect(doomed.lost.reason).toBe(lostReason);
    expect(heir.token).toBeGreaterThan(doomed.token);
    await doomed.release(); // nothing to release, and no throw
    expect(await heir.stillHeld()).toBe(true);
    await heir.release();
  });

  it('fires lost at the next renewal when another owner holds the key', async () => {
    const key = newKey();
    const controller = new AbortController();
    const lease = await acquireLease({
      redisUrl: redis.url,
      key,
      ttlMs: TTL,
      owner: 'a',
      signal: controller.signal,
    });
    // An operator (or a split brain) overwrote the lease.
    await admin.set(key, 'intruder#999', 'PX', 60_000);
    await waitFor(() => lease.lost.aborted, 'lost', 5_000);
    expect(lease.lost.reason).toBeInstanceOf(LeaseLostError);
    expect(String((lease.lost.reason as Error).message)).toMatch(/no longer ours/);
    await lease.release();
    // Compare-and-delete: the release did not remove the other owner's lease.
    expect(await admin.get(key)).toBe('intruder#999');
    await admin.del(key);
  });

  it('rejects with LeaseAbortedError when the signal aborts while waiting, and leaves the holder alone', async () => {
    const key = newKey();
    const holderController = new AbortController();
    const holder = await acquireLease({
      redisUrl: redis.url,
      key,
      ttlMs: TTL,
      signal: holderController.signal,
    });
    const waiterController = new AbortController();
    const waiting = acquireLease({
      redisUrl: redis.url,
      key,
      ttlMs: TTL,
      owner: 'another replica',
      signal: waiterController.signal,
    });
    setTimeout(() => waiterController.abort(), 100);
    await expect(waiting).rejects.toBeInstanceOf(LeaseAbortedError);
    // Aborting the holder's signal does not release: only release() does.
    holderController.abort();
    expect(await holder.stillHeld()).toBe(true);
    expect(holder.owner).toMatch(/^.+:\d+$/); // hostname:pid by default
    await holder.release();
  });

  it('keeps retrying while Redis is unreachable and acquires once it answers', async () => {
    const key = newKey();
    const down = await startRedis();
    await down.stop();
    const controller = new AbortController();
    const { logger, logs } = createFakeContext();
    const pending = track(
      acquireLease({ redisUrl: down.url, key, ttlMs: TTL, signal: controller.signal, logger }),
    );
    // Retrying, not given up: a second attempt failed after the first one's backoff.
    const retries = (): number => logs.filter((l) => l.msg === 'lease: cannot reach redis, retrying').length;
    await waitFor(() => retries() >= 2, 'two failed attempts');
    expect(pending.lease).toBeUndefined();
    expect(pending.error).toBeUndefined();
    await down.restart();
    const lease = await eventually(() => pending.lease, 'acquired after redis came back', 15_000);
    expect(lease.token).toBe(1);
    await lease.release();
    await down.dispose();
  });

  it('is taken back at once, with a new token, by a restarted holder with the same owner; the old acquisition is fenced out', async () => {
    const key = newKey();
    const ttlMs = 3_000;
    const owner = 'pod-7/orders/sinks[0]';
    // The process that dies: it never releases, and (frozen, not dead) keeps its renewal timer.
    const old = await acquireLease({
      redisUrl: redis.url,
      key,
      ttlMs,
      owner,
      signal: new AbortController().signal,
    });
    let lostReason: Error | undefined;
    old.lost.addEventListener('abort', () => (lostReason = old.lost.reason as Error));
    const startedAt = Date.now();
    const restarted = await acquireLease({
      redisUrl: redis.url,
      key,
      ttlMs,
      owner,
      signal: AbortSignal.timeout(ttlMs / 2),
    });
    // Without the take-back it would have waited for the expiry (ttlMs), and the signal would have aborted.
    expect(Date.now() - startedAt).toBeLessThan(ttlMs / 2);
    expect(restarted.token).toBeGreaterThan(old.token);
    expect(await restarted.stillHeld()).toBe(true);
    // The old acquisition can no longer pass a check before a write, and learns it at its next renewal.
    expect(await old.stillHeld()).toBe(false);
    await waitFor(() => old.lost.aborted, 'the old acquisition to see the take-back', 5_000);
    expect(lostReason).toBeInstanceOf(LeaseTakenBackError);
    expect(lostReason).toBeInstanceOf(LeaseLostError);
    expect(await restarted.stillHeld()).toBe(true);
    await old.release(); // compare-and-delete: leaves the new holder alone
    expect(await restarted.stillHeld()).toBe(true);
    await restarted.release();
  });

  it('does not take back a lease whose owner only shares a prefix, or one held by another owner', async () => {
    const key = newKey();
    const holder = await acquireLease({
      redisUrl: redis.url,
      key,
      ttlMs: TTL,
      owner: 'pod-1/p/sinks[0]',
      signal: new AbortController().signal,
    });
    for (const owner of ['pod-1/p/sinks', 'pod-1', 'pod-2/p/sinks[0]']) {
      const pending = acquireLease({
        redisUrl: redis.url,
        key,
        ttlMs: TTL,
        owner,
        signal: AbortSignal.timeout(2 * TTL),
      });
      await expect(pending).rejects.toBeInstanceOf(LeaseAbortedError);
    }
    expect(await holder.stillHeld()).toBe(true);
    await holder.release();
  });

  it('two live replicas with the same owner: the one taken back from stands by instead of taking it back in turn', async () => {
    const key = newKey();
    const owner = 'twin/p/source';
    const first = await acquireLease({
      redisUrl: redis.url,
      key,
      ttlMs: TTL,
      owner,
      signal: new AbortController().signal,
    });
    const second = await acquireLease({
      redisUrl: redis.url,
      key,
      ttlMs: TTL,
      owner,
      signal: new AbortController().signal,
    });
    await waitFor(() => first.lost.aborted, 'the first twin to lose', 5_000);
    expect(first.lost.reason).toBeInstanceOf(LeaseTakenBackError);
    // The first twin tries again, as a sink or a leased source does after a loss: it waits, it does
    // not take the lease back (which would make the two flap forever).
    const again = track(
      acquireLease({ redisUrl: redis.url, key, ttlMs: TTL, owner, signal: new AbortController().signal }),
    );
    const until = Date.now() + 3 * TTL;
    await waitFor(() => again.lease !== undefined || Date.now() > until, 'three ttls', 5_000);
    expect(again.lease).toBeUndefined();
    expect(second.lost.aborted).toBe(false);
    expect(await second.stillHeld()).toBe(true);
    // Once the other twin lets go, it gets the lease as any waiting owner would.
    await second.release();
    const third = await eventually(() => again.lease, 'the first twin to acquire after the release', 5_000);
    expect(third.token).toBeGreaterThan(second.token);
    await third.release();
  });

  it('refuses a ttl that is too short to renew', async () => {
    await expect(
      acquireLease({ redisUrl: redis.url, key: newKey(), ttlMs: 10, signal: new AbortController().signal }),
    ).rejects.toThrow(/ttlMs must be an integer of at least 100 ms/);
  });
});
