import { describe, expect, it, vi } from 'vitest';
import {
  noopMetrics,
  silentLogger,
  type ComponentContext,
  type Delivery,
  type Message,
} from '../../src/sdk/index.js';
import { simulatorSource, simulatorSourceConfig, type SimulatorSource } from './index.js';

function context(): ComponentContext & { states: string[] } {
  const states: string[] = [];
  return {
    pipeline: 'test',
    component: 'source',
    logger: silentLogger,
    states,
    setState: (s) => void states.push(s),
    countDropped: () => {},
    deadLetter: async () => {},
    metrics: noopMetrics,
  };
}

function create(config: Record<string, unknown>): SimulatorSource {
  return simulatorSource.create(simulatorSourceConfig.parse(config), context()) as SimulatorSource;
}

async function readAll(source: SimulatorSource, signal = new AbortController().signal): Promise<Message[]> {
  const out: Message[] = [];
  for (;;) {
    const d = await source.read(signal);
    if (!d) return out;
    out.push(...d.messages);
    d.ack();
  }
}

describe('simulator config', () => {
  it('has defaults for everything', () => {
    const c = simulatorSourceConfig.parse({});
    expect(c).toMatchObject({ rate: 1, devices: 3, maxBatch: 1000 });
    expect(Object.keys(c.fields)).toEqual(['temperature', 'humidity', 'pressure', 'battery']);
  });

  it('rejects bad fields with readable errors', () => {
    const bad = simulatorSourceConfig.safeParse({
      fields: { seq: { kind: 'constant', value: 1 }, x: { kind: 'sine', min: 5, max: 1 } },
    });
    expect(bad.success).toBe(false);
    const text = bad.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
    expect(text).toContain('fields.seq: device, seq and ts are set by the simulator');
    expect(text).toContain('fields.x: max must be greater than min');
    expect(simulatorSourceConfig.safeParse({ rate: 0 }).success).toBe(false);
    expect(simulatorSourceConfig.safeParse({ rat: 1 }).success).toBe(false);
  });
});

describe('simulator source', () => {
  it('gives every message of a fast run its own time, on whole microseconds, evenly spaced', async () => {
    const source = create({ rate: 200_000, count: 2000, devices: 1, seed: 1 });
    await source.connect(new AbortController().signal);
    const times = (await readAll(source)).map((m) => m.time);
    expect(new Set(times).size).toBe(2000);
    expect(times.every((t, i) => i === 0 || t > times[i - 1]!)).toBe(true);
    expect(times.every((t) => Math.round(t * 1000) / 1000 === t)).toBe(true);
    expect(Math.round((times[1999]! - times[0]!) * 1000)).toBe(1999 * 5);
    expect(Math.abs(times[0]! - Date.now())).toBeLessThan(5000);
    await source.close();
  });

  it('emits plausible readings with stable ids and metadata, and stops after count', async () => {
    const source = create({ rate: 100_000, count: 9, devices: 3, seed: 1 });
    await source.connect(new AbortController().signal);
    const messages = await readAll(source);
    expect(messages.map((m) => m.id)).toEqual([
      'sim-001:1',
      'sim-002:1',
      'sim-003:1',
      'sim-001:2',
      'sim-002:2',
      'sim-003:2',
      'sim-001:3',
      'sim-002:3',
      'sim-003:3',
    ]);
    for (const m of messages) {
      const p = m.payload as Record<string, number | string>;
      expect(Object.keys(p)).toEqual([
        'device',
        'seq',
        'temperature',
        'humidity',
        'pressure',
        'battery',
        'ts',
      ]);
      expect(p.temperature).toBeGreaterThanOrEqual(16);
      expect(p.temperature).toBeLessThanOrEqual(26);
      expect(p.humidity).toBeGreaterThanOrEqual(40);
      expect(p.humidity).toBeLessThanOrEqual(60);
      expect(Math.abs((p.pressure as number) - 1013)).toBeLessThanOrEqual(10);
      expect(p.ts).toBe(m.time);
      expect(m.meta).toEqual({ 'simulator.device': p.device, 'simulator.seq': p.seq });
    }
    const battery = messages
      .filter((m) => m.meta['simulator.device'] === 'sim-001')
      .map((m) => (m.payload as { battery: number }).battery);
    expect(battery).toEqual([100, 99.99, 99.98]);
    expect(await source.read(new AbortController().signal)).toBeNull();
    await source.close();
    await source.close();
  });

  it('gives the same values for the same seed, and different ones for another seed', async () => {
    const values = async (seed: number): Promise<unknown[]> =>
      (await readAll(create({ rate: 1_000_000, count: 500, seed }))).map((m) => {
        const { ts: _ts, ...rest } = m.payload as Record<string, unknown>;
        return rest;
      });
    const a = await values(7);
    expect(await values(7)).toEqual(a);
    expect(await values(8)).not.toEqual(a);
  });

  it('keeps user-defined fields within their bounds', async () => {
    const messages = await readAll(
      create({
        rate: 1_000_000,
        count: 3000,
        devices: 2,
        seed: 3,
        fields: {
          level: { kind: 'random-walk', min: 0, max: 1, step: 0.5, decimals: 3 },
          wild: { kind: 'random-walk', min: 0, max: 1, step: 5 },
          wave: { kind: 'sine', min: -2, max: 2, period: 1 }, // 1 ms: the test runs at 1M msg/s
          meter: { kind: 'counter', min: 0, max: 9 },
          mode: { kind: 'constant', value: 'auto' },
        },
      }),
    );
    const devOne = messages
      .filter((m) => m.meta['simulator.device'] === 'sim-001')
      .map((m) => m.payload as Record<string, number | string>);
    expect(devOne.slice(0, 12).map((p) => p.meter)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    for (const p of devOne) {
      expect(p.level).toBeGreaterThanOrEqual(0);
      expect(p.level).toBeLessThanOrEqual(1);
      expect(p.wild).toBeGreaterThanOrEqual(0);
      expect(p.wild).toBeLessThanOrEqual(1);
      expect(p.wave).toBeGreaterThanOrEqual(-2);
      expect(p.wave).toBeLessThanOrEqual(2);
      expect(p.mode).toBe('auto');
    }
    const waves = devOne.map((p) => p.wave as number);
    expect(Math.min(...waves)).toBeLessThan(-1.9);
    expect(Math.max(...waves)).toBeGreaterThan(1.9);
  });

  it('keeps to the rate over a second at 1000 msg/s, in batches of the 10 ms tick (fake clock)', async () => {
    // A fake clock: the rate and the batching are the simulator's arithmetic, not how punctual this
    // machine's timers are (a loaded machine made late timers look like a slow simulator).
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    // performance.now() on the same fake clock (the simulator's schedule is read from it).
    const origin = Date.now();
    const now = vi.spyOn(performance, 'now').mockImplementation(() => Date.now() - origin);
    try {
      const source = create({ rate: 1000, devices: 5 });
      const signal = new AbortController().signal;
      const started = performance.now();
      let messages = 0;
      let reads = 0;
      while (performance.now() - started < 1000) {
        let delivery: Delivery | null | undefined;
        void source.read(signal).then((d) => (delivery = d));
        while (delivery === undefined) await vi.advanceTimersToNextTimerAsync();
        if (!delivery) break;
        messages += delivery.messages.length;
        reads++;
        delivery.ack();
      }
      const elapsed = performance.now() - started;
      // Due by then: one message a millisecond, handed out at most one tick (10 ms) late.
      expect(messages).toBeLessThanOrEqual(Math.floor(elapsed) + 1);
      expect(messages).toBeGreaterThanOrEqual(Math.floor(elapsed) - 10);
      // One read per 10 ms tick: about 100, not 1000.
      expect(reads).toBeGreaterThanOrEqual(95);
      expect(reads).toBeLessThanOrEqual(105);
      expect(source.timerStats().skipped).toBe(0);
      await source.close();
    } finally {
      now.mockRestore();
      vi.useRealTimers();
    }
  });

  it('batches high rates up to maxBatch', async () => {
    const source = create({ rate: 20_000, maxBatch: 150, count: 3000 });
    const sizes: number[] = [];
    const signal = new AbortController().signal;
    for (;;) {
      const d = await source.read(signal);
      if (!d) break;
      sizes.push(d.messages.length);
      d.ack();
    }
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(3000);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(150);
    expect(sizes.length).toBeLessThan(100);
  });

  it('skips ahead instead of bursting when the reader falls far behind', async () => {
    const source = create({ rate: 2000, maxBatch: 100 });
    const signal = new AbortController().signal;
    (await source.read(signal))?.ack();
    await new Promise((r) => setTimeout(r, 1300));
    const d = await source.read(signal);
    expect(d?.messages.length).toBe(100);
    expect(source.timerStats().skipped).toBeGreaterThan(400);
    // Sequence numbers stay contiguous: skipped messages were never generated.
    expect(d?.messages[0]?.id).toBe('sim-002:1');
    await source.close();
  });

  it('redelivers a batch whose ack failed, with the same ids', async () => {
    const source = create({ rate: 100_000, count: 4, seed: 5 });
    const signal = new AbortController().signal;
    const first = await source.read(signal);
    first?.ack(new Error('outbox full'));
    const again = await source.read(signal);
    expect(again?.messages).toEqual(first?.messages);
  });

  it('returns null at once when the signal aborts or the source closes while waiting', async () => {
    const source = create({ rate: 0.01 });
    const controller = new AbortController();
    (await source.read(controller.signal))?.ack();
    const pending = source.read(controller.signal);
    setTimeout(() => controller.abort(), 20);
    expect(await pending).toBeNull();
    const pending2 = source.read(new AbortController().signal);
    setTimeout(() => void source.close(), 20);
    expect(await pending2).toBeNull();
  });
});
