import { messageSize, type Message } from '../sdk/index.js';

/**
 * The meta fields that name what a message is about, in order of preference: an OPC UA node, a
 * LoRaWAN device, an MQTT topic, a simulated device. A message with none of them is not tracked.
 */
export const KEY_FIELDS = ['opcua.nodeId', 'chirpstack.devEui', 'mqtt.topic', 'simulator.device'] as const;

/** At most this many keys per pipeline (the least recently updated is forgotten first). */
export const CURRENT_VALUES_CAP = 200;
/**
 * A value larger than this is kept as its size only: memory stays under about 200 x 16 KiB per
 * pipeline whatever the payloads.
 */
export const MAX_VALUE_BYTES = 16 * 1024;
/** The rate of a key is measured over its last arrivals, at most this many. */
const RATE_WINDOW = 16;

interface Entry {
  field: string;
  payload: unknown;
  quality: string | undefined;
  /** When the value arrived here (ms). */
  time: number;
  /** The message's own time (ms). */
  messageTime: number;
  /** When the key last moved to the end of the map. */
  movedAt: number;
  count: number;
  /** Arrival times, a ring of RATE_WINDOW. */
  arrivals: Float64Array;
  /** Within `recordBatch`: the batch that last touched this entry, and its last message here. */
  batch: number;
  batchLast: Message | undefined;
}

export interface CurrentValue {
  key: string;
  field: string;
  payload: unknown;
  quality?: string;
  time: number;
  messageTime: number;
  count: number;
  /** Messages per second over the last arrivals (0 with one arrival). */
  rate: number;
}

/** The last value of each key of one pipeline, bounded in keys (`CURRENT_VALUES_CAP`). */
export class CurrentValues {
  /** Ordered from least to most recently updated, to the second (an update moves the key to the end). */
  private readonly entries = new Map<string, Entry>();
  /** Keys forgotten because the cap was reached. */
  evicted = 0;
  /** Batches recorded (`Entry.batch`). */
  private batches = 0;

  constructor(readonly cap = CURRENT_VALUES_CAP) {}

  record(m: Message, now = Date.now()): void {
    const entry = this.update(m, now);
    if (entry) keep(entry, m);
  }

  /**
   * Records a batch: like `record` for each message, but the value (which measures the payload)
   * and quality are taken once per key, from its last message in the batch.
   */
  recordBatch(batch: readonly Message[], now = Date.now()): void {
    if (batch.length === 1) return this.record(batch[0]!, now);
    // Consecutive messages that share one meta object (a source's messages of one topic do, see the
    // MQTT source's metaOf) have one key: they are counted together, one lookup per run rather than
    // per message (issue 17). An entry reused for another key within the batch ends with that key's
    // last message.
    const batchId = ++this.batches;
    const touched: Entry[] = [];
    for (let start = 0; start < batch.length;) {
      const meta = batch[start]!.meta;
      let end = start + 1;
      while (end < batch.length && batch[end]!.meta === meta) end++;
      const last = batch[end - 1]!;
      const entry = this.update(last, now, end - start);
      if (entry) {
        if (entry.batch !== batchId) {
          entry.batch = batchId;
          touched.push(entry);
        }
        entry.batchLast = last;
      }
      start = end;
    }
    for (const entry of touched) {
      const last = entry.batchLast!;
      entry.batchLast = undefined;
      keep(entry, last);
    }
  }

  /**
   * Counts `arrivals` arrivals (at `now`, the last of them `m`) under the message's key; the
   * caller keeps its value.
   */
  private update(m: Message, now: number, arrivals = 1): Entry | undefined {
    let field: string | undefined;
    let key: unknown;
    for (const f of KEY_FIELDS) {
      key = m.meta[f];
      if (key !== undefined && key !== null && key !== '') {
        field = f;
        break;
      }
    }
    if (!field) return undefined;
    const name = String(key).slice(0, 512);
    let entry = this.entries.get(name);
    // A key moves to the end (most recent) at most once a second: the order is for eviction only.
    const insert = entry === undefined || now - entry.movedAt >= 1000;
    if (entry && insert) this.entries.delete(name);
    else if (!entry && this.entries.size >= this.cap) {
      // The least recently updated key goes; its entry is reused (no garbage per new key).
      const [oldest, reused] = this.entries.entries().next().value as [string, Entry];
      this.entries.delete(oldest);
      this.evicted++;
      entry = reused;
      entry.count = 0;
    }
    entry ??= {
      field,
      payload: undefined,
      quality: undefined,
      time: 0,
      messageTime: 0,
      movedAt: 0,
      count: 0,
      arrivals: new Float64Array(RATE_WINDOW),
      batch: 0,
      batchLast: undefined,
    };
    entry.field = field;
    entry.time = now;
    entry.messageTime = m.time;
    // The ring keeps the last RATE_WINDOW arrivals: all at `now` when there are as many.
    const written = Math.min(arrivals, RATE_WINDOW);
    for (let i = arrivals - written; i < arrivals; i++) entry.arrivals[(entry.count + i) % RATE_WINDOW] = now;
    entry.count += arrivals;
    if (insert) {
      entry.movedAt = now;
      this.entries.set(name, entry);
    }
    return entry;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Every key, most recently updated first; payloads as they are (the caller bounds them). */
  list(): CurrentValue[] {
    // The map's order is right to the second: sorted on the exact times.
    const out: CurrentValue[] = [];
    for (const [key, e] of this.entries) {
      const n = Math.min(e.count, RATE_WINDOW);
      const last = e.arrivals[(e.count - 1) % RATE_WINDOW]!;
      const first = e.arrivals[(e.count - n) % RATE_WINDOW]!;
      const rate = n > 1 && last > first ? ((n - 1) * 1000) / (last - first) : 0;
      out.push({
        key,
        field: e.field,
        payload: e.payload,
        ...(e.quality !== undefined ? { quality: e.quality } : {}),
        time: e.time,
        messageTime: e.messageTime,
        count: e.count,
        rate,
      });
    }
    return out.reverse().sort((a, b) => b.time - a.time);
  }
}

function keep(entry: Entry, m: Message): void {
  const quality = m.meta['opcua.quality'] ?? m.meta.quality;
  entry.payload = keptValue(m);
  entry.quality = quality === undefined || quality === null ? undefined : String(quality).slice(0, 64);
}

function keptValue(m: Message): unknown {
  const p = m.payload;
  if (p === null || typeof p !== 'object' || p instanceof Uint8Array) {
    if (p instanceof Uint8Array) return { bytes: p.byteLength };
    return typeof p === 'string' && p.length > MAX_VALUE_BYTES ? `${p.slice(0, MAX_VALUE_BYTES)}...` : p;
  }
  const size = messageSize(m);
  return size > MAX_VALUE_BYTES ? { 'not kept: larger than 16 KiB': size } : p;
}
