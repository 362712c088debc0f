import type { Redis } from 'ioredis';
import { NotConnectedError, RetryableError, errorMessage, redact } from '../../src/sdk/index.js';

/**
 * What the sinks writing a spreadsheet share, across replicas (Redis) or within the process (one
 * memory store per spreadsheet, whatever number of sinks write it).
 *
 * A tab "family" is the name rendered from the `tab` template; its parts are the tabs `name`,
 * `name (2)`, `name (3)`... (rollover). Per family the store keeps the part being filled, a row
 * count of that part (the cursor: rows appended by the sinks, for the rollover; people's edits
 * are not counted) and the header (the columns, in their order). Each chunk of a batch is
 * registered once, under a key derived from its message ids: the same key gets the same part back,
 * with the chunk's status (not sent yet, sent with an unknown outcome, written), so that a retry
 * either skips it, checks the tab for it, or sends it.
 */
export interface ColumnSpec {
  header: string;
  value: string;
}

export interface FamilyInit {
  part: number;
  /** Next free row (1-based; row 1 is the header). */
  cursor: number;
  header: ColumnSpec[];
}

/** `new`: never sent; `sent`: sent, outcome unknown (answer lost, timeout, 5xx); `done`: confirmed. */
export type ChunkStatus = 'new' | 'sent' | 'done';

export interface Reservation {
  part: number;
  startRow: number;
  rows: number;
  status: ChunkStatus;
}

export interface TabStore {
  /** The family's state, or undefined when it was never initialised (read the sheet, then `init`). */
  family(family: string): Promise<FamilyInit | undefined>;
  /** Initialises the family unless another replica did it first; returns the state that holds. */
  init(family: string, state: FamilyInit): Promise<FamilyInit>;
  /**
   * Reserves `rows` rows for `key` in the family (moving to the next part when the current one has
   * fewer than `rows` free data rows under `cap`); the same key gets the same reservation back.
   */
  reserve(family: string, key: string, rows: number, cap: number): Promise<Reservation>;
  /** Records what became of a chunk (kept as long as the reservation). */
  mark(family: string, key: string, status: ChunkStatus): Promise<void>;
  /** Adds the columns not in the header yet (by header text), at the end; returns the whole header. */
  extendHeader(family: string, columns: ColumnSpec[]): Promise<ColumnSpec[]>;
  close(): Promise<void>;
}

export class UninitialisedFamilyError extends Error {}

const MAX_MEMORY_RESERVATIONS = 100_000;
/** Families kept in memory; one evicted is read back from the sheet when it is written again. */
const MAX_MEMORY_FAMILIES = 10_000;
/** A family key outlives its reservations by a day; it is refreshed on every use. */
const FAMILY_GRACE_MS = 86_400_000;

export class MemoryTabStore implements TabStore {
  private readonly families = new Map<string, FamilyInit>();
  private readonly reservations = new Map<string, { r: Reservation; expires: number }>();

  constructor(private readonly ttlMs: number) {}

  family(family: string): Promise<FamilyInit | undefined> {
    const f = this.families.get(family);
    if (f) {
      // Least recently used goes first when the map is full.
      this.families.delete(family);
      this.families.set(family, f);
    }
    return Promise.resolve(f ? { ...f, header: [...f.header] } : undefined);
  }

  init(family: string, state: FamilyInit): Promise<FamilyInit> {
    if (!this.families.has(family)) this.families.set(family, { ...state, header: [...state.header] });
    for (const k of this.families.keys()) {
      if (this.families.size <= MAX_MEMORY_FAMILIES) break;
      this.families.delete(k);
    }
    return this.family(family) as Promise<FamilyInit>;
  }

  reserve(family: string, key: string, rows: number, cap: number): Promise<Reservation> {
    const now = Date.now();
    const id = `${family}\n${key}`;
    const known = this.reservations.get(id);
    if (known && known.expires > now) return Promise.resolve(known.r);
    const f = this.families.get(family);
    if (!f) return Promise.reject(new UninitialisedFamilyError(family));
    if (f.cursor - 2 + rows > cap) {
      f.part += 1;
      f.cursor = 2;
    }
    const r: Reservation = { part: f.part, startRow: f.cursor, rows, status: 'new' };
    f.cursor += rows;
    this.reservations.delete(id);
    this.reservations.set(id, { r, expires: now + this.ttlMs });
    // Bounded: the oldest reservations go first (insertion order).
    for (const k of this.reservations.keys()) {
      if (this.reservations.size <= MAX_MEMORY_RESERVATIONS) break;
      this.reservations.delete(k);
    }
    return Promise.resolve(r);
  }

  mark(family: string, key: string, status: ChunkStatus): Promise<void> {
    const known = this.reservations.get(`${family}\n${key}`);
    if (known) known.r = { ...known.r, status };
    return Promise.resolve();
  }

  extendHeader(family: string, columns: ColumnSpec[]): Promise<ColumnSpec[]> {
    const f = this.families.get(family);
    if (!f) return Promise.reject(new UninitialisedFamilyError(family));
    const known = new Set(f.header.map((c) => c.header));
    for (const c of columns) {
      if (known.has(c.header)) continue;
      known.add(c.header);
      f.header.push({ header: c.header, value: c.value });
    }
    return Promise.resolve([...f.header]);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

// KEYS[1] family hash. ARGV: part, cursor, header JSON, family ttl. Sets them unless the family exists.
const INIT_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'part', ARGV[1], 'cursor', ARGV[2], 'header', ARGV[3])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('HMGET', KEYS[1], 'part', 'cursor', 'header')
`;

// KEYS[1] family hash, KEYS[2] reservation. ARGV: rows, cap, reservation ttl, family ttl (ms).
const RESERVE_SCRIPT = `
local known = redis.call('GET', KEYS[2])
if known then return known end
local state = redis.call('HMGET', KEYS[1], 'part', 'cursor')
local part = tonumber(state[1])
local cursor = tonumber(state[2])
if not part then return false end
local rows = tonumber(ARGV[1])
if cursor - 2 + rows > tonumber(ARGV[2]) then
  part = part + 1
  cursor = 2
end
local r = part .. ':' .. cursor .. ':' .. rows .. ':new'
redis.call('HSET', KEYS[1], 'part', part, 'cursor', cursor + rows)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], r, 'PX', ARGV[3])
return r
`;

// KEYS[1] reservation. ARGV[1]: status. Keeps the reservation's expiry.
const MARK_SCRIPT = `
local known = redis.call('GET', KEYS[1])
if not known then return 0 end
local a, b, c = string.match(known, '^(%d+):(%d+):(%d+)')
redis.call('SET', KEYS[1], a .. ':' .. b .. ':' .. c .. ':' .. ARGV[1], 'KEEPTTL')
return 1
`;

// KEYS[1] family hash. ARGV[1]: JSON list of {header, value}. Appends unknown headers.
const HEADER_SCRIPT = `
local raw = redis.call('HGET', KEYS[1], 'header')
if not raw then return false end
local header = cjson.decode(raw)
local known = {}
for _, c in ipairs(header) do known[c.header] = true end
local changed = false
for _, c in ipairs(cjson.decode(ARGV[1])) do
  if not known[c.header] then
    known[c.header] = true
    table.insert(header, { header = c.header, value = c.value })
    changed = true
  end
end
if changed then
  raw = cjson.encode(header)
  redis.call('HSET', KEYS[1], 'header', raw)
end
return raw
`;

export class RedisTabStore implements TabStore {
  constructor(
    private readonly redis: Redis,
    /** Prefix of every key, e.g. `passerelle:google-sheets:<spreadsheetId>:`. */
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  private familyKey(family: string): string {
    return `${this.prefix}tab:${family}`;
  }

  async family(family: string): Promise<FamilyInit | undefined> {
    const [part, cursor, header] = await this.redis.hmget(this.familyKey(family), 'part', 'cursor', 'header');
    if (part === null || cursor === null) return undefined;
    return { part: Number(part), cursor: Number(cursor), header: parseHeader(header) };
  }

  async init(family: string, state: FamilyInit): Promise<FamilyInit> {
    const [part, cursor, header] = (await this.redis.eval(
      INIT_SCRIPT,
      1,
      this.familyKey(family),
      state.part,
      state.cursor,
      // An empty Lua table encodes as {} in cjson: store an empty list as [] ourselves.
      JSON.stringify(state.header),
      this.ttlMs + FAMILY_GRACE_MS,
    )) as [string, string, string | null];
    return { part: Number(part), cursor: Number(cursor), header: parseHeader(header) };
  }

  async reserve(family: string, key: string, rows: number, cap: number): Promise<Reservation> {
    const r = (await this.redis.eval(
      RESERVE_SCRIPT,
      2,
      this.familyKey(family),
      `${this.prefix}batch:${key}`,
      rows,
      cap,
      this.ttlMs,
      this.ttlMs + FAMILY_GRACE_MS,
    )) as string | null;
    if (r === null) throw new UninitialisedFamilyError(family);
    const [part, startRow, n, status] = r.split(':');
    return {
      part: Number(part ?? 1),
      startRow: Number(startRow ?? 2),
      rows: Number(n ?? rows),
      // Reservations of earlier versions carry no status: check the tab before sending again.
      status: status === 'new' || status === 'done' ? status : 'sent',
    };
  }

  async mark(family: string, key: string, status: ChunkStatus): Promise<void> {
    await this.redis.eval(MARK_SCRIPT, 1, `${this.prefix}batch:${key}`, status);
  }

  async extendHeader(family: string, columns: ColumnSpec[]): Promise<ColumnSpec[]> {
    if (columns.length === 0) return (await this.family(family))?.header ?? [];
    const raw = (await this.redis.eval(HEADER_SCRIPT, 1, this.familyKey(family), JSON.stringify(columns))) as
      string | null;
    if (raw === null) throw new UninitialisedFamilyError(family);
    return parseHeader(raw);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

function parseHeader(raw: string | null | undefined): ColumnSpec[] {
  if (!raw) return [];
  const parsed = JSON.parse(raw) as unknown;
  return Array.isArray(parsed) ? (parsed as ColumnSpec[]) : [];
}

const memoryStores = new Map<string, MemoryTabStore>();

/**
 * The one memory store of a spreadsheet in this process: every sink writing it (two pipelines, or
 * a reloaded pipeline) shares its tabs' headers, row counts and chunk records.
 */
export function sharedMemoryTabStore(spreadsheetId: string, ttlMs: number): MemoryTabStore {
  let store = memoryStores.get(spreadsheetId);
  if (!store) {
    store = new MemoryTabStore(ttlMs);
    memoryStores.set(spreadsheetId, store);
  }
  return store;
}

/** Runs a call on the shared state; without Redis the sink can not reserve rows safely, so it waits. */
export async function sharedState<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof UninitialisedFamilyError)
      throw new RetryableError(`the state of tab "${error.message}" expired; it is read again`);
    throw new NotConnectedError(
      `the Redis holding the sink's shared state (row cursors, quota) is unavailable: ${redact(errorMessage(error))}`,
      { cause: error },
    );
  }
}
