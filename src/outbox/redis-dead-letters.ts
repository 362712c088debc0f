import type { Redis } from 'ioredis';
import { nodeCrypto, redact, silentLogger, type Logger } from '../sdk/index.js';
import { decodeMessage } from './codec.js';
import {
  budgetEntry,
  messageBytesOf,
  replayRefusal,
  totalBytesOf,
  withId,
  type StoredEntry,
} from './dead-letter-budget.js';
import { matchesFilter, page } from './memory.js';
import type {
  DeadLetter,
  DeadLetterFilter,
  DeadLetterRetention,
  DeadLetterStore,
  ReplayRequest,
  TrimCause,
} from './types.js';

/**
 * Dead letters in Redis. Keys (prefix `passerelle` by default):
 * - `<prefix>:dlq:entries`            hash id -> entry JSON (message bytes kept via the codec)
 * - `<prefix>:dlq:time:<pipeline>`    sorted set of ids by time: listing, paging and retention
 * - `<prefix>:dlq:pipelines`          set of pipelines that have entries
 * - `<prefix>:dlq:replay:<pipeline>`  list of ids to re-drive; `claimed:<pipeline>` those taken and not done
 * - `<prefix>:dlq:marked`             ids in either list, so a replay is requested once
 * - `<prefix>:dlq:bytes:<pipeline>`   bytes of the pipeline's entries (sum of HSTRLEN): the `maxBytes` budget
 * Listed oldest first.
 */
// One entry, and its bytes counted (the counter starts from the entries stored before it existed).
const ADD = `
if redis.call('EXISTS', KEYS[3]) == 0 then
  local bytes = 0
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do bytes = bytes + redis.call('HSTRLEN', KEYS[1], id) end
  redis.call('SET', KEYS[3], bytes)
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('INCRBY', KEYS[3], #ARGV[2])
redis.call('SADD', KEYS[4], ARGV[4])
`;

const TRIM = `
local bytes = 0
if redis.call('EXISTS', KEYS[4]) == 1 then
  bytes = tonumber(redis.call('GET', KEYS[4]))
else
  -- Entries stored before the byte budget existed: count them once.
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do bytes = bytes + redis.call('HSTRLEN', KEYS[1], id) end
end
local function drop(ids)
  for _, id in ipairs(ids) do
    bytes = bytes - redis.call('HSTRLEN', KEYS[1], id)
    redis.call('HDEL', KEYS[1], id)
    redis.call('SREM', KEYS[3], id)
  end
end
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
drop(old)
if #old > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1]) end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[2])
local extra = {}
if over > 0 then
  extra = redis.call('ZRANGE', KEYS[2], 0, over - 1)
  drop(extra)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
local heavy = 0
local maxBytes = tonumber(ARGV[3])
while bytes > maxBytes do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #oldest == 0 then break end
  drop(oldest)
  redis.call('ZREM', KEYS[2], oldest[1])
  heavy = heavy + 1
end
if redis.call('ZCARD', KEYS[2]) == 0 then bytes = 0 end
redis.call('SET', KEYS[4], bytes)
return {#old, #extra, heavy}
`;

// Keys built from ARGV[1] (prefix) and the entry's pipeline: fine on a single Redis, not on a cluster.
const REMOVE = `
local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local raw = redis.call('HGET', KEYS[1], id)
  if raw then
    local p = cjson.decode(raw).pipeline
    -- Only a counter that exists: a missing one is computed from the entries left at the next add.
    local bytes = ARGV[1] .. 'bytes:' .. p
    if redis.call('EXISTS', bytes) == 1 then redis.call('DECRBY', bytes, #raw) end
    redis.call('HDEL', KEYS[1], id)
    redis.call('SREM', KEYS[2], id)
    redis.call('ZREM', ARGV[1] .. 'time:' .. p, id)
    redis.call('LREM', ARGV[1] .. 'replay:' .. p, 0, id)
    redis.call('LREM', ARGV[1] .. 'claimed:' .. p, 0, id)
    n = n + 1
  end
end
return n
`;

// Entries whose payload is not the original (`stored` set) are refused: their ids come back.
const REQUEST = `
local n = 0
local refused = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local raw = redis.call('HGET', KEYS[1], id)
  if raw then
    local entry = cjson.decode(raw)
    if entry.stored then
      table.insert(refused, id)
    else
      n = n + 1
      if redis.call('SADD', KEYS[2], id) == 1 then
        redis.call('LPUSH', ARGV[1] .. 'replay:' .. entry.pipeline, id)
      end
    end
  end
end
return {n, refused}
`;

const CLAIM = `
if ARGV[2] == '1' then
  while redis.call('RPOPLPUSH', KEYS[2], KEYS[1]) do end
end
local out = {}
local max = tonumber(ARGV[1])
while #out < max do
  local id = redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
  if not id then break end
  local raw = redis.call('HGET', KEYS[3], id)
  if raw then
    table.insert(out, raw)
  else
    redis.call('LREM', KEYS[2], 0, id)
    redis.call('SREM', KEYS[4], id)
  end
end
return out
`;

interface DlqCommands {
  passerelleDlqAdd(
    entries: string,
    time: string,
    bytes: string,
    pipelines: string,
    id: string,
    json: string,
    score: number,
    pipeline: string,
  ): Promise<unknown>;
  passerelleDlqTrim(
    entries: string,
    time: string,
    marked: string,
    bytes: string,
    cutoff: number,
    maxCount: number,
    maxBytes: number,
  ): Promise<[number, number, number]>;
  passerelleDlqRemove(entries: string, marked: string, prefix: string, ...ids: string[]): Promise<number>;
  passerelleDlqRequest(
    entries: string,
    marked: string,
    prefix: string,
    ...ids: string[]
  ): Promise<[number, string[]]>;
  passerelleDlqClaim(
    replay: string,
    claimed: string,
    entries: string,
    marked: string,
    max: number,
    recover: string,
  ): Promise<string[]>;
}

export interface RedisDeadLettersOptions {
  prefix?: string;
  logger?: Logger;
  /** How often the retention runs besides on add (ms); 0 turns the timer off. Default: min(maxAgeMs, 60 s). */
  trimIntervalMs?: number;
}

export class RedisDeadLetters implements DeadLetterStore {
  private readonly k: string;
  private readonly redis: Redis & DlqCommands;
  private readonly logger: Logger;
  private readonly recovered = new Set<string>();
  private readonly timer: NodeJS.Timeout | undefined;
  /** Entries removed by the retention by this instance. */
  trimmedTotal = 0;

  constructor(
    redis: Redis,
    private readonly retention: DeadLetterRetention,
    options: RedisDeadLettersOptions = {},
  ) {
    this.k = `${options.prefix ?? 'passerelle'}:dlq:`;
    this.logger = options.logger ?? silentLogger;
    redis.defineCommand('passerelleDlqAdd', { numberOfKeys: 4, lua: ADD });
    redis.defineCommand('passerelleDlqTrim', { numberOfKeys: 4, lua: TRIM });
    redis.defineCommand('passerelleDlqRemove', { numberOfKeys: 2, lua: REMOVE });
    redis.defineCommand('passerelleDlqRequest', { numberOfKeys: 2, lua: REQUEST });
    redis.defineCommand('passerelleDlqClaim', { numberOfKeys: 4, lua: CLAIM });
    this.redis = redis as Redis & DlqCommands;
    const every = options.trimIntervalMs ?? Math.min(retention.maxAgeMs, 60_000);
    if (every > 0) {
      this.timer = setInterval(() => {
        this.trim().catch((err: unknown) => this.logger.warn({ err }, 'dead-letter retention failed'));
      }, every);
      this.timer.unref();
    }
  }

  private get entriesKey(): string {
    return `${this.k}entries`;
  }

  async add(entries: Omit<DeadLetter, 'id'>[]): Promise<void> {
    if (entries.length === 0) return;
    const multi = this.redis.multi() as unknown as DlqCommands & { exec(): ReturnType<Redis['exec']> };
    const pipelines = new Set<string>();
    const maxMessageBytes = messageBytesOf(this.retention);
    for (const e of entries) {
      const id = nodeCrypto().randomUUID();
      // The reason is masked now: `dlq list` runs in a process that knows no secrets.
      const json = withId(budgetEntry({ ...e, reason: redact(e.reason) }, maxMessageBytes).json, id);
      void multi.passerelleDlqAdd(
        this.entriesKey,
        `${this.k}time:${e.pipeline}`,
        `${this.k}bytes:${e.pipeline}`,
        `${this.k}pipelines`,
        id,
        json,
        e.time,
        e.pipeline,
      );
      pipelines.add(e.pipeline);
    }
    for (const [err] of (await multi.exec()) ?? []) if (err) throw err;
    const now = Date.now();
    for (const p of pipelines) await this.trimPipeline(p, now);
  }

  async trim(): Promise<number> {
    const pipelines = await this.redis.smembers(`${this.k}pipelines`);
    const now = Date.now();
    let n = 0;
    for (const p of pipelines) n += await this.trimPipeline(p, now);
    return n;
  }

  private async trimPipeline(pipeline: string, now: number): Promise<number> {
    const [old, over, heavy] = await this.redis.passerelleDlqTrim(
      this.entriesKey,
      `${this.k}time:${pipeline}`,
      `${this.k}marked`,
      `${this.k}bytes:${pipeline}`,
      now - this.retention.maxAgeMs,
      this.retention.maxCount,
      totalBytesOf(this.retention),
    );
    this.report(pipeline, old, 'maxAge');
    this.report(pipeline, over, 'maxCount');
    this.report(pipeline, heavy, 'maxBytes');
    return old + over + heavy;
  }

  private report(pipeline: string, count: number, cause: TrimCause): void {
    if (count === 0) return;
    this.trimmedTotal += count;
    this.logger.warn({ pipeline, count, cause }, 'dead letters removed by the retention');
    this.retention.onTrimmed?.(pipeline, count, cause);
  }

  private decode(raw: string | null): DeadLetter | undefined {
    if (raw === null) return undefined;
    const s = JSON.parse(raw) as StoredEntry;
    return { ...s, message: decodeMessage(s.message) };
  }

  /** Ids in time order (or newest first), of one pipeline or of all. */
  private async ids(
    pipeline: string | undefined,
    start = 0,
    stop = -1,
    newestFirst = false,
  ): Promise<string[]> {
    const range = (key: string) =>
      newestFirst ? this.redis.zrevrange(key, start, stop) : this.redis.zrange(key, start, String(stop));
    if (pipeline !== undefined) return range(`${this.k}time:${pipeline}`);
    const pipelines = await this.redis.smembers(`${this.k}pipelines`);
    if (pipelines.length === 1) return range(`${this.k}time:${pipelines[0]}`);
    const all: [string, number][] = [];
    for (const p of pipelines) {
      // RESP3 (ioredis 6's default) answers [member, score] pairs, RESP2 a flat list.
      const res = (await this.redis.zrange(`${this.k}time:${p}`, 0, '-1', 'WITHSCORES')) as unknown[];
      if (Array.isArray(res[0])) {
        for (const pair of res as [string, string | number][]) all.push([pair[0], Number(pair[1])]);
      } else {
        for (let i = 0; i < res.length; i += 2) all.push([res[i] as string, Number(res[i + 1])]);
      }
    }
    all.sort((a, b) => (newestFirst ? b[1] - a[1] : a[1] - b[1]));
    return all.slice(start, stop === -1 ? undefined : stop + 1).map((x) => x[0]);
  }

  private async load(ids: string[]): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    for (let i = 0; i < ids.length; i += 1000) {
      const raws = await this.redis.hmget(this.entriesKey, ...ids.slice(i, i + 1000));
      for (const raw of raws) {
        const e = this.decode(raw);
        if (e) out.push(e);
      }
    }
    return out;
  }

  private static scans(filter: DeadLetterFilter | undefined): boolean {
    return filter?.stage !== undefined || filter?.reason !== undefined;
  }

  async list(filter?: DeadLetterFilter): Promise<DeadLetter[]> {
    if (!RedisDeadLetters.scans(filter)) {
      const offset = filter?.offset ?? 0;
      const stop = filter?.limit === undefined ? -1 : offset + filter.limit - 1;
      if (filter?.limit === 0) return [];
      return this.load(await this.ids(filter?.pipeline, offset, stop, filter?.newestFirst));
    }
    const all = await this.load(await this.ids(filter?.pipeline, 0, -1, filter?.newestFirst));
    return page(
      all.filter((e) => matchesFilter(e, filter)),
      filter,
    );
  }

  async count(filter?: DeadLetterFilter): Promise<number> {
    if (!RedisDeadLetters.scans(filter)) {
      if (filter?.pipeline !== undefined) return this.redis.zcard(`${this.k}time:${filter.pipeline}`);
      let n = 0;
      for (const p of await this.redis.smembers(`${this.k}pipelines`))
        n += await this.redis.zcard(`${this.k}time:${p}`);
      return n;
    }
    return (await this.load(await this.ids(filter?.pipeline))).filter((e) => matchesFilter(e, filter)).length;
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    return this.decode(await this.redis.hget(this.entriesKey, id));
  }

  async idsStartingWith(prefix: string, max: number): Promise<string[]> {
    // The time indexes hold ids only (the entries hash holds whole messages). Glob characters in
    // the prefix are escaped: it matches literally.
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    const out: string[] = [];
    for (const pipeline of await this.redis.smembers(`${this.k}pipelines`)) {
      let cursor = '0';
      do {
        const [next, pairs] = await this.redis.zscan(
          `${this.k}time:${pipeline}`,
          cursor,
          'MATCH',
          pattern,
          'COUNT',
          1000,
        );
        cursor = next;
        for (let i = 0; i < pairs.length; i += 2) if (out.length < max) out.push(pairs[i]!);
      } while (cursor !== '0' && out.length < max);
    }
    return out;
  }

  async remove(ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.redis.passerelleDlqRemove(this.entriesKey, `${this.k}marked`, this.k, ...ids);
  }

  async requestReplay(ids: string[]): Promise<ReplayRequest> {
    if (ids.length === 0) return { marked: 0, refused: [] };
    const [marked, refusedIds] = await this.redis.passerelleDlqRequest(
      this.entriesKey,
      `${this.k}marked`,
      this.k,
      ...ids,
    );
    const refused: ReplayRequest['refused'] = [];
    for (const id of refusedIds) {
      const entry = await this.get(id);
      if (entry)
        refused.push({ id, reason: replayRefusal(entry) ?? 'its payload is not the original message' });
    }
    return { marked, refused };
  }

  async claimReplays(pipeline: string, max: number): Promise<DeadLetter[]> {
    // The first claim of this instance for a pipeline takes back what an earlier run left claimed.
    const recover = !this.recovered.has(pipeline);
    const raws = await this.redis.passerelleDlqClaim(
      `${this.k}replay:${pipeline}`,
      `${this.k}claimed:${pipeline}`,
      this.entriesKey,
      `${this.k}marked`,
      max,
      recover ? '1' : '0',
    );
    this.recovered.add(pipeline);
    return raws.map((raw) => this.decode(raw) as DeadLetter);
  }

  async replayDone(_pipeline: string, ids: string[]): Promise<void> {
    await this.remove(ids);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
