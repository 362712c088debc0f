import { Redis } from 'ioredis';
import { errorMessage, redactUrl, type Logger } from '../../sdk/index.js';
import { next, passes, type Band, type KeyState, type Observation } from './decide.js';

export interface Decision {
  key: string;
  observation: Observation;
}

/** Where the last passed values live; decides a batch in order (a key seen twice sees its own update). */
export interface DeadbandState {
  decide(items: Decision[]): boolean[] | Promise<boolean[]>;
  close(): Promise<void>;
}

/** In-process state, least recently seen keys forgotten beyond `maxKeys`. */
export class MemoryState implements DeadbandState {
  private readonly keys = new Map<string, KeyState>();

  constructor(
    private readonly band: Band,
    private readonly maxKeys: number,
    private readonly onEvict: (count: number) => void,
  ) {}

  get size(): number {
    return this.keys.size;
  }

  decide(items: Decision[]): boolean[] {
    const out = new Array<boolean>(items.length);
    let evicted = 0;
    for (let i = 0; i < items.length; i++) {
      const { key, observation } = items[i]!;
      const state = this.keys.get(key);
      // Delete and set again: a Map iterates in insertion order, so the first key is the least recent.
      if (state) this.keys.delete(key);
      const pass = passes(state, observation, this.band);
      out[i] = pass;
      this.keys.set(key, pass ? next(state, observation) : state!);
      if (this.keys.size > this.maxKeys) {
        this.keys.delete(this.keys.keys().next().value!);
        evicted++;
      }
    }
    if (evicted > 0) this.onEvict(evicted);
    return out;
  }

  clear(): void {
    this.keys.clear();
  }

  async close(): Promise<void> {
    this.keys.clear();
  }
}

/**
 * The decision of passes()/next() in Lua, run atomically by Redis on a whole chunk of a batch: two
 * replicas that see the same key never both pass values closer than the band. Numbers travel and
 * are stored as text, so no precision is lost to Lua's number formatting.
 * ARGV: absolute (-1 unset), percent (-1 unset), maxSilence ms, ttl ms, then one JSON per key.
 */
const DECIDE = `
local absolute = tonumber(ARGV[1])
local percent = tonumber(ARGV[2])
local silence = tonumber(ARGV[3])
local ttl = ARGV[4]
local cache, dirty, out = {}, {}, {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local o = cjson.decode(ARGV[i + 4])
  local state = cache[key]
  if state == nil then
    local raw = redis.call('GET', key)
    if raw then state = cjson.decode(raw) else state = false end
  end
  local pass = false
  if not state or o.s ~= state.s then
    pass = true
  elseif silence > 0 and tonumber(o.t) - tonumber(state.t) >= silence then
    pass = true
  else
    for path, now in pairs(o.v) do
      local before = state.v[path]
      if before == nil then pass = true break end
      if now.n ~= nil and before.n ~= nil then
        local b = tonumber(before.n)
        local limit = 0
        if percent >= 0 then limit = math.abs(b) * percent / 100 elseif absolute >= 0 then limit = absolute end
        if math.abs(tonumber(now.n) - b) > limit * (1 + 1e-9) then pass = true break end
      elseif now.n ~= nil or before.n ~= nil or now.x ~= before.x then
        pass = true break
      end
    end
  end
  if pass then
    local v = {}
    if state then for p, value in pairs(state.v) do v[p] = value end end
    for p, value in pairs(o.v) do v[p] = value end
    state = { t = o.t, s = o.s, v = v }
  end
  cache[key] = state
  if pass then dirty[key] = true elseif dirty[key] == nil then dirty[key] = false end
  out[i] = pass and '1' or '0'
end
for key, changed in pairs(dirty) do
  if changed then redis.call('SET', key, cjson.encode(cache[key]), 'PX', ttl)
  else redis.call('PEXPIRE', key, ttl) end
end
return table.concat(out)
`;

/** Messages per script call: every chunk of a batch goes in one pipelined round trip. */
const CHUNK = 2000;

type DeadbandRedis = Redis & {
  deadbandDecide(...args: (string | number)[]): Promise<string>;
};

export interface RedisStateOptions {
  url: string;
  prefix: string;
  band: Band;
  ttlMs: number;
  timeoutMs: number;
  logger: Logger;
  /** Decides while Redis can not be reached. */
  fallback: MemoryState;
  onFallback: (count: number) => void;
}

/** State in Redis, shared by replicas and kept across restarts; falls back to memory while Redis is down. */
export class RedisState implements DeadbandState {
  private readonly client: DeadbandRedis;
  private readonly ready: Promise<void>;
  private degraded = false;
  private closed = false;

  constructor(private readonly options: RedisStateOptions) {
    this.client = new Redis(options.url, {
      connectTimeout: Math.max(1000, options.timeoutMs),
      // Fail at once while disconnected: the batch is decided from memory instead of waiting.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(2000, 50 * times),
    }) as DeadbandRedis;
    this.client.defineCommand('deadbandDecide', { lua: DECIDE });
    let lastError = '';
    this.client.on('error', (err: Error) => {
      if (err.message === lastError) return;
      lastError = err.message;
      options.logger.debug({ err: err.message, redis: redactUrl(options.url) }, 'deadband: redis error');
    });
    this.client.on('ready', () => (lastError = ''));
    // The first batches wait for the connection (up to the timeout) rather than fall back at start.
    this.ready = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(1000, options.timeoutMs));
      timer.unref();
      this.client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async decide(items: Decision[]): Promise<boolean[]> {
    if (items.length === 0) return [];
    if (this.client.status !== 'ready') await this.ready;
    const { band, ttlMs, prefix } = this.options;
    const head = [band.absolute ?? -1, band.percent ?? -1, band.maxSilenceMs, Math.max(1, Math.round(ttlMs))];
    try {
      const pipeline = this.client.pipeline();
      for (let start = 0; start < items.length; start += CHUNK) {
        const chunk = items.slice(start, start + CHUNK);
        const keys = chunk.map((d) => prefix + d.key);
        const args = chunk.map((d) => encodeObservation(d.observation));
        (pipeline as unknown as DeadbandRedis).deadbandDecide(keys.length, ...keys, ...head, ...args);
      }
      // The timeout is per chunk: a batch of 20 000 messages may take its time, a stuck Redis not.
      const chunks = Math.ceil(items.length / CHUNK);
      const results = await withTimeout(pipeline.exec(), this.options.timeoutMs * chunks);
      const flags: boolean[] = [];
      for (const [error, value] of results ?? []) {
        if (error) throw error;
        for (const c of String(value)) flags.push(c === '1');
      }
      if (flags.length !== items.length) throw new Error(`redis answered ${flags.length} of ${items.length}`);
      if (this.degraded) {
        this.degraded = false;
        this.options.fallback.clear();
        this.options.logger.info({ redis: redactUrl(this.options.url) }, 'deadband: state in Redis again');
      }
      return flags;
    } catch (error) {
      if (!this.degraded) {
        this.degraded = true;
        this.options.logger.warn(
          { err: errorMessage(error), redis: redactUrl(this.options.url) },
          'deadband: Redis unreachable, deciding from this replica\u2019s memory until it is back',
        );
      }
      this.options.onFallback(items.length);
      return this.options.fallback.decide(items);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.disconnect();
    await this.options.fallback.close();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
  });
  // A late answer after the timeout is ignored (its rejection too).
  promise.catch(() => {});
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Numbers as text (`String(n)` round-trips exactly), and the time too: Lua's cjson keeps 14 digits. */
function encodeObservation(o: Observation): string {
  const v: Record<string, { n: string } | { x: string }> = {};
  for (const path in o.values) {
    const value = o.values[path]!;
    v[path] = 'n' in value ? { n: String(value.n) } : value;
  }
  return JSON.stringify({ t: String(o.time), s: o.status, v });
}
