/**
 * A Redis lease: at most one owner at a time for a named piece of work (a single-reader source, a
 * single-writer sink), with expiry, so the work moves when its holder dies, and a fencing token
 * that grows with every acquisition, so a target can refuse a writer whose lease has been taken over.
 *
 * The owner is a stable identity (`<instance>/<pipeline>/<component>`): an acquisition by the same
 * owner as the holder takes the lease back at once instead of waiting for the expiry, because the
 * holder can only be a previous life of the same process (a restart after a crash). The take-back
 * numbers a new token, so the previous life, if it is still running (frozen, partitioned), is fenced
 * out like any replaced holder. Two live processes that share an identity are a configuration error:
 * the one taken back from does not take back in turn (it waits like any other owner), so they never
 * flap.
 *
 * Redis keys: `<key>` holds `<owner>/<acquisition>#<token>` with a PX expiry; `<key>:fence` is the
 * token counter.
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { PasserelleError } from './errors.js';
import { nodeCrypto } from './node-crypto.js';
import { silentLogger, type Logger } from './logger.js';
import { redactUrl } from './redact.js';
import { backoffDelay, sleep } from './timing.js';

export const DEFAULT_LEASE_TTL_MS = 15_000;

export interface LeaseOptions {
  redisUrl: string;
  /** The Redis key of the lease, e.g. `passerelle:lease:pipeline:<name>`. */
  key: string;
  /** How long the lease outlives its holder's last renewal; renewed every ttl/3. Default 15 s. */
  ttlMs?: number;
  /**
   * Who holds it: a stable identity such as `<pod>/<pipeline>/<component>`. An acquisition with the
   * holder's own owner takes the lease back at once (see above). Default `hostname:pid`, without
   * take-back: two acquisitions of one process with the default owner must still exclude each other.
   */
  owner?: string;
  /** Aborting stops waiting (acquireLease rejects with LeaseAbortedError); it does not release a held lease. */
  signal: AbortSignal;
  logger?: Logger;
  /** Called once when the lease is lost (another owner holds it, or it could not be renewed in time). */
  onLost?: (reason: Error) => void;
  /** Called when an attempt finds the lease held by another owner (the caller then waits). */
  onWaiting?: (holder: string) => void;
}

export interface Lease {
  readonly key: string;
  readonly owner: string;
  /** The fencing token: strictly greater than that of any earlier acquisition of this key. */
  readonly token: number;
  /** Aborted (with the reason) when the lease is lost; work under the lease must stop at once. */
  readonly lost: AbortSignal;
  /** Asks Redis whether this acquisition still holds the lease (for a check right before a write). */
  stillHeld(): Promise<boolean>;
  /** Stops renewing and deletes the lease if this acquisition still holds it; idempotent. */
  release(): Promise<void>;
}

/** The lease was not acquired because the caller's signal aborted first. */
export class LeaseAbortedError extends PasserelleError {}

/** The lease was taken by another owner or could not be renewed before it expired. */
export class LeaseLostError extends PasserelleError {}

/**
 * The lease was taken back by an acquisition with the same owner: a restart of this identity, or a
 * second live process configured with the same identity.
 */
export class LeaseTakenBackError extends LeaseLostError {}

// The owner part of a stored value `<owner>/<acquisition>#<token>`.
const OWNER_OF = `
local function ownerOf(value)
  return string.match(value, '^(.*)/[^/]*#%d+$')
end
`;

// Atomic: take the lease if nobody holds it, or take it back from an earlier acquisition by the same
// owner (ARGV[4] = owner, ARGV[3] = '1' when allowed), and number this acquisition.
// Returns {token, previous holder or '', 0} when taken, {0, holder, pttl} when held by someone else.
const ACQUIRE = `${OWNER_OF}
local holder = redis.call('GET', KEYS[1])
if holder and not (ARGV[3] == '1' and ownerOf(holder) == ARGV[4]) then
  return {0, holder, redis.call('PTTL', KEYS[1])}
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '#' .. token, 'PX', ARGV[2])
return {token, holder or '', 0}
`;

// Compare-and-extend: renew only our own acquisition. 1 renewed, 0 someone else's (or expired),
// -1 taken back by another acquisition with our owner (ARGV[3]).
const RENEW = `${OWNER_OF}
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if holder and ownerOf(holder) == ARGV[3] then
  return -1
end
return 0
`;

/**
 * Leases (key + owner) taken back from this process by another acquisition with the same owner: this
 * process then waits for them like any other owner rather than taking them back in turn.
 */
const supersededHere = new Set<string>();

// Compare-and-delete.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

type LeaseRedis = Redis & {
  leaseAcquire(
    key: string,
    fence: string,
    ownerValue: string,
    ttl: number,
    takeBack: '0' | '1',
    owner: string,
  ): Promise<[number, string, number]>;
  leaseRenew(key: string, value: string, ttl: number, owner: string): Promise<number>;
  leaseRelease(key: string, value: string): Promise<number>;
};

/** The owner part of a stored value `<owner>/<acquisition>#<token>` (as the scripts parse it). */
function ownerOf(value: string): string | undefined {
  return /^(.*)\/[^/]*#\d+$/.exec(value)?.[1];
}

export function defaultLeaseOwner(): string {
  return `${hostname()}:${process.pid}`;
}

/** ioredis costs ~6 MB once loaded: loaded with the first lease, so a service without Redis never pays. */
async function createClient(url: string, ttlMs: number, logger: Logger): Promise<LeaseRedis> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, {
    // A renewal that hangs must count as failed well before the lease expires.
    commandTimeout: Math.max(50, Math.floor(ttlMs / 4)),
    maxRetriesPerRequest: 1,
    connectTimeout: Math.max(1_000, ttlMs),
    retryStrategy: (times) => Math.min(2_000, 50 * times),
  }) as LeaseRedis;
  let lastError = '';
  client.on('error', (err: Error) => {
    // ioredis repeats the same connection error on every retry; log each distinct one once.
    if (err.message === lastError) return;
    lastError = err.message;
    logger.debug({ err: err.message, redis: redactUrl(url) }, 'lease: redis connection error');
  });
  client.on('ready', () => (lastError = ''));
  client.defineCommand('leaseAcquire', { numberOfKeys: 2, lua: ACQUIRE });
  client.defineCommand('leaseRenew', { numberOfKeys: 1, lua: RENEW });
  client.defineCommand('leaseRelease', { numberOfKeys: 1, lua: RELEASE });
  return client;
}

/**
 * Resolves once the lease is held, waiting while another owner holds it and retrying while Redis is
 * unreachable; rejects with LeaseAbortedError when `signal` aborts first. The held lease renews
 * itself every ttl/3 until `release()` or until it is lost (then `lost` aborts and `onLost` runs).
 *
 * When a renewal cannot reach Redis, it is retried; the lease is declared lost before it could
 * expire in Redis (last confirmed renewal + ttl, minus a margin), so two owners never both think they
 * hold it, as long as clocks run at the same rate.
 */
export async function acquireLease(options: LeaseOptions): Promise<Lease> {
  const ttlMs = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  if (!Number.isInteger(ttlMs) || ttlMs < 100) {
    throw new RangeError(`lease ttlMs must be an integer of at least 100 ms, got ${ttlMs}`);
  }
  const owner = options.owner ?? defaultLeaseOwner();
  // A unique owner value per acquisition: the same process re-acquiring must not renew a stale one.
  const ownerValue = `${owner}/${nodeCrypto().randomUUID().slice(0, 8)}`;
  const logger = options.logger ?? silentLogger;
  const { signal, key } = options;
  const fenceKey = `${key}:fence`;
  const supersededKey = `${key}\n${owner}`;
  const client = await createClient(options.redisUrl, ttlMs, logger);

  let token = 0;
  let attempt = 0;
  let loggedHolder = '';
  try {
    while (!signal.aborted) {
      const startedAt = Date.now();
      try {
        const takeBack = options.owner !== undefined && !supersededHere.has(supersededKey) ? '1' : '0';
        const [got, holder, pttl] = await client.leaseAcquire(
          key,
          fenceKey,
          ownerValue,
          ttlMs,
          takeBack,
          owner,
        );
        attempt = 0;
        if (got > 0) {
          token = got;
          supersededHere.delete(supersededKey);
          if (holder !== '') {
            logger.warn(
              { lease: key, owner, previous: holder, token },
              'lease: taken back from an earlier process with the same identity (restarted?)',
            );
          }
          return holdLease({
            client,
            key,
            owner,
            value: `${ownerValue}#${token}`,
            token,
            ttlMs,
            confirmedAt: startedAt,
            logger,
            onLost: options.onLost,
          });
        }
        if (holder !== loggedHolder) {
          loggedHolder = holder;
          if (options.owner !== undefined && takeBack === '0' && ownerOf(holder) === owner) {
            logger.error(
              { lease: key, owner, holder },
              'lease: another live process uses this same identity and holds the lease; waiting for it. Give each replica its own identity (PASSERELLE_IDENTITY)',
            );
          } else logger.info({ lease: key, holder }, 'lease: held by another owner, waiting');
          options.onWaiting?.(holder);
        }
        // Wake right after it would expire, but re-check at least every ttl/3 (it may be released).
        const wait = pttl > 0 ? Math.min(pttl + 5, ttlMs / 3) : ttlMs / 3;
        await sleep(Math.max(5, Math.round(wait + Math.random() * 20)), signal);
      } catch (err) {
        logger.warn(
          { lease: key, err: (err as Error).message, attempt },
          'lease: cannot reach redis, retrying',
        );
        await sleep(backoffDelay(attempt++, 200, Math.max(1_000, ttlMs / 3)), signal);
      }
    }
  } catch (err) {
    client.disconnect();
    throw err;
  }
  client.disconnect();
  throw new LeaseAbortedError(`stopped waiting for lease ${key}`, { cause: signal.reason });
}

interface HoldOptions {
  client: LeaseRedis;
  key: string;
  owner: string;
  value: string;
  token: number;
  ttlMs: number;
  /** When the command that last confirmed the lease was sent: it expires no earlier than this + ttl. */
  confirmedAt: number;
  logger: Logger;
  onLost?: (reason: Error) => void;
}

function holdLease(o: HoldOptions): Lease {
  const { client, key, value, ttlMs, logger } = o;
  const lostController = new AbortController();
  const renewEvery = Math.max(10, Math.floor(ttlMs / 3));
  const retryEvery = Math.max(10, Math.floor(ttlMs / 10));
  // Give up this long before the Redis expiry, so the next owner never overlaps with us.
  const margin = Math.max(20, Math.floor(ttlMs / 5));
  let confirmedAt = o.confirmedAt;
  let released = false;
  let timer: NodeJS.Timeout | undefined;
  // Fires when no renewal was confirmed in time, even if a renewal command hangs.
  let expiry: NodeJS.Timeout | undefined;
  const armExpiry = (): void => {
    clearTimeout(expiry);
    expiry = setTimeout(
      () => lose(new LeaseLostError(`lease ${key} was not renewed in time (redis unreachable?)`)),
      Math.max(1, confirmedAt + ttlMs - margin - Date.now()),
    );
    expiry.unref?.();
  };

  const lose = (reason: Error): void => {
    if (released || lostController.signal.aborted) return;
    clearTimeout(timer);
    clearTimeout(expiry);
    client.disconnect();
    logger.warn({ lease: key, token: o.token, reason: reason.message }, 'lease: lost');
    lostController.abort(reason);
    o.onLost?.(reason);
  };

  const schedule = (ms: number): void => {
    timer = setTimeout(() => void renew(), ms);
    timer.unref?.();
  };

  const renew = async (): Promise<void> => {
    const sentAt = Date.now();
    try {
      const renewed = await o.client.leaseRenew(key, value, ttlMs, o.owner);
      if (released) return;
      if (renewed === -1) {
        supersededHere.add(`${key}\n${o.owner}`);
        lose(
          new LeaseTakenBackError(
            `lease ${key} was taken back by another process with the same identity (${o.owner})`,
          ),
        );
        return;
      }
      if (renewed !== 1) {
        lose(new LeaseLostError(`lease ${key} is no longer ours (expired or taken over)`));
        return;
      }
      confirmedAt = sentAt;
      armExpiry();
      schedule(renewEvery);
    } catch (err) {
      if (released) return;
      const deadline = confirmedAt + ttlMs - margin;
      const now = Date.now();
      if (now + retryEvery >= deadline) {
        lose(
          new LeaseLostError(`lease ${key} could not be renewed in time: ${(err as Error).message}`, {
            cause: err,
          }),
        );
        return;
      }
      logger.warn({ lease: key, err: (err as Error).message }, 'lease: renewal failed, retrying');
      schedule(retryEvery);
    }
  };

  armExpiry();
  schedule(renewEvery);
  logger.info({ lease: key, owner: o.owner, token: o.token, ttlMs }, 'lease: acquired');

  return {
    key,
    owner: o.owner,
    token: o.token,
    lost: lostController.signal,
    async stillHeld() {
      if (released || lostController.signal.aborted) return false;
      return (await client.get(key)) === value;
    },
    async release() {
      if (released) return;
      released = true;
      clearTimeout(timer);
      clearTimeout(expiry);
      if (!lostController.signal.aborted) {
        try {
          await client.leaseRelease(key, value);
          logger.info({ lease: key, token: o.token }, 'lease: released');
        } catch (err) {
          // It expires on its own within the ttl.
          logger.warn({ lease: key, err: (err as Error).message }, 'lease: release failed; it will expire');
        }
      }
      client.disconnect();
    },
  };
}
