import type { Redis } from 'ioredis';

/**
 * The write quota of one Google account, as a token bucket: `burst` tokens, refilled at
 * `writesPerMinute` per minute. With Redis the bucket is one hash per account that every replica
 * shares (a Lua script takes a token atomically, with Redis' clock); without Redis it lives in the
 * process. A 429 from Google empties the bucket and blocks it until the quota is back.
 */
export interface WriteQuota {
  /** Takes a token; resolves 0 when granted, else how many ms to wait before asking again. */
  take(): Promise<number>;
  /** No token for anyone until `ms` from now (after a 429). */
  block(ms: number): Promise<void>;
}

export interface QuotaLimits {
  writesPerMinute: number;
  burst: number;
}

export class MemoryQuota implements WriteQuota {
  private tokens: number;
  private last: number;
  private blockedUntil = 0;
  private limits: QuotaLimits;

  constructor(
    limits: QuotaLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.limits = { ...limits };
    this.tokens = limits.burst;
    this.last = now();
  }

  /** Another sink of the same account joined with its own limits: the stricter ones hold. */
  tighten(limits: QuotaLimits): void {
    this.limits = {
      writesPerMinute: Math.min(this.limits.writesPerMinute, limits.writesPerMinute),
      burst: Math.min(this.limits.burst, limits.burst),
    };
    this.tokens = Math.min(this.tokens, this.limits.burst);
  }

  take(): Promise<number> {
    const now = this.now();
    if (this.blockedUntil > now) return Promise.resolve(this.blockedUntil - now);
    const perMs = this.limits.writesPerMinute / 60_000;
    this.tokens = Math.min(this.limits.burst, this.tokens + Math.max(0, now - this.last) * perMs);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve(0);
    }
    return Promise.resolve(Math.ceil((1 - this.tokens) / perMs));
  }

  block(ms: number): Promise<void> {
    const now = this.now();
    this.blockedUntil = Math.max(this.blockedUntil, now + ms);
    // Refill starts when the block ends: no burst right after a 429.
    this.tokens = 0;
    this.last = this.blockedUntil;
    return Promise.resolve();
  }
}

// KEYS[1] bucket; ARGV: writesPerMinute, burst, block ms (0 = take a token).
// Returns 0 when a token was taken, else the ms to wait.
const BUCKET_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local perMs = tonumber(ARGV[1]) / 60000
local burst = tonumber(ARGV[2])
local blockMs = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'last', 'blockedUntil')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
local blockedUntil = tonumber(state[3]) or 0
local ttl = math.ceil(burst / perMs) + 60000
if blockMs > 0 then
  if now + blockMs > blockedUntil then blockedUntil = now + blockMs end
  redis.call('HSET', KEYS[1], 'tokens', 0, 'last', blockedUntil, 'blockedUntil', blockedUntil)
  redis.call('PEXPIRE', KEYS[1], ttl + blockMs)
  return 0
end
if blockedUntil > now then return blockedUntil - now end
tokens = math.min(burst, tokens + math.max(0, now - last) * perMs)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / perMs) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'last', now, 'blockedUntil', blockedUntil)
redis.call('PEXPIRE', KEYS[1], ttl)
return wait
`;

export class RedisQuota implements WriteQuota {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly limits: QuotaLimits,
  ) {}

  async take(): Promise<number> {
    const wait = await this.redis.eval(
      BUCKET_SCRIPT,
      1,
      this.key,
      this.limits.writesPerMinute,
      this.limits.burst,
      0,
    );
    return Number(wait);
  }

  async block(ms: number): Promise<void> {
    await this.redis.eval(
      BUCKET_SCRIPT,
      1,
      this.key,
      this.limits.writesPerMinute,
      this.limits.burst,
      Math.max(1, Math.ceil(ms)),
    );
  }
}

const memoryQuotas = new Map<string, MemoryQuota>();

/**
 * The one bucket of a Google account in this process: Google counts writes per user, so every sink
 * using the same identity (service account e-mail, OAuth user) takes its tokens from it.
 */
export function sharedMemoryQuota(account: string, limits: QuotaLimits): MemoryQuota {
  let quota = memoryQuotas.get(account);
  if (quota) quota.tighten(limits);
  else {
    quota = new MemoryQuota(limits);
    memoryQuotas.set(account, quota);
  }
  return quota;
}
