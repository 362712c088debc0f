import mqtt, { type MqttClient } from 'mqtt';

/** Publishes `count` QoS 1 messages `{ seq, value }` with at most `window` unacknowledged at once. */
export async function publishSequence(
  url: string,
  topic: string,
  from: number,
  count: number,
  options: { window?: number; ratePerSecond?: number; qos?: 0 | 1 | 2 } = {},
): Promise<void> {
  const client = await mqtt.connectAsync(url, {
    clientId: `pub-${process.pid}-${Math.random().toString(16).slice(2)}`,
    reconnectPeriod: 200,
  });
  const window = options.window ?? 200;
  const inFlight = new Set<Promise<unknown>>();
  const started = Date.now();
  try {
    for (let seq = from; seq < from + count; seq++) {
      if (options.ratePerSecond) {
        const due = started + ((seq - from) * 1000) / options.ratePerSecond;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const p = client.publishAsync(topic, JSON.stringify({ seq, value: seq % 100, unit: 'C' }), {
        qos: options.qos ?? 1,
      });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      if (inFlight.size >= window) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } finally {
    await client.endAsync();
  }
}

export interface Collector {
  counts: Map<number, number>;
  received(): number;
  /** Sequence numbers in [from, to) not received yet. */
  missing(from: number, to: number): number[];
  duplicates(): number;
  payloads: unknown[];
  close(): Promise<void>;
}

/** A persistent-session QoS 1 subscriber that survives broker restarts without losing messages. */
export async function collect(
  url: string,
  filter: string,
  options: { keepPayloads?: boolean } = {},
): Promise<Collector> {
  const counts = new Map<number, number>();
  const payloads: unknown[] = [];
  let received = 0;
  const client: MqttClient = mqtt.connect(url, {
    clientId: `collector-${process.pid}-${Math.random().toString(16).slice(2)}`,
    clean: false,
    reconnectPeriod: 200,
  });
  client.on('message', (_topic, payload) => {
    received++;
    try {
      const body = JSON.parse(payload.toString()) as { seq?: number };
      if (options.keepPayloads) payloads.push(body);
      if (typeof body.seq === 'number') counts.set(body.seq, (counts.get(body.seq) ?? 0) + 1);
    } catch {
      if (options.keepPayloads) payloads.push(payload.toString());
    }
  });
  client.on('error', () => {});
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  await client.subscribeAsync(filter, { qos: 1 });
  return {
    counts,
    payloads,
    received: () => received,
    missing: (from, to) => {
      const out: number[] = [];
      for (let s = from; s < to; s++) if (!counts.has(s)) out.push(s);
      return out;
    },
    duplicates: () => {
      let d = 0;
      for (const c of counts.values()) d += c - 1;
      return d;
    },
    close: () => client.endAsync(true).then(() => undefined),
  };
}
