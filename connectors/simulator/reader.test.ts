import { describe, expect, it } from 'vitest';
import { loadComponent, type Message, type Run, type RunReader } from '../../src/sdk/index.js';
import { createFakeContext } from '../../test/conformance/context.js';
import { runReaderConformance } from '../../test/conformance/run-reader.js';
import { simulatorSource } from './index.js';
import { simulatorSourceConfig, simulatorSourceSpec } from './spec.js';

const MINUTE = 60_000;
const T = Date.UTC(2026, 11, 5, 6);

function reader(config: Record<string, unknown>): RunReader {
  return simulatorSource.createReader!(simulatorSourceConfig.parse(config), createFakeContext());
}

const run = (end: number, id = `sim@${new Date(end).toISOString()}`): Run => ({
  id,
  pipeline: 'sim',
  window: { start: end - 15 * MINUTE, end },
  scheduledAt: end,
  attempt: 1,
  timeZone: 'UTC',
});

async function readAll(r: RunReader, theRun: Run): Promise<Message[][]> {
  const batches: Message[][] = [];
  for await (const b of r.read(theRun, AbortSignal.timeout(10_000))) batches.push(b);
  return batches;
}

describe('simulator on a tick', () => {
  it('streams and is read on a tick', async () => {
    expect(simulatorSourceSpec.readModes).toEqual(['stream', 'tick']);
    const loaded = await loadComponent(simulatorSourceSpec);
    expect(loaded.create).toBeTypeOf('function');
    expect(loaded.createReader).toBeTypeOf('function');
  });

  it('gives one sample of every device at the tick; fields go on from tick to tick', async () => {
    const r = reader({
      devices: 3,
      seed: 7,
      fields: {
        energy: { kind: 'counter', min: 0, max: 1000, step: 2 },
        wave: { kind: 'sine', min: -1, max: 1, period: '1h', decimals: 6 },
        status: { kind: 'constant', value: 'running' },
      },
    });
    await r.connect(AbortSignal.timeout(1000));
    const first = (await readAll(r, run(T))).flat();
    expect(first.map((m) => m.id)).toEqual([
      `sim@${new Date(T).toISOString()}/sim-001`,
      `sim@${new Date(T).toISOString()}/sim-002`,
      `sim@${new Date(T).toISOString()}/sim-003`,
    ]);
    for (const m of first) {
      expect(m.time).toBe(T);
      expect(m.payload).toMatchObject({ energy: 0, status: 'running', seq: 1, ts: T });
    }
    const second = (await readAll(r, run(T + 15 * MINUTE))).flat();
    for (const m of second) expect(m.payload).toMatchObject({ energy: 2, seq: 2 });
    // A sine is read at the tick's time: a whole period later it has the same value.
    const wave = (m: Message) => (m.payload as { wave: number }).wave;
    const later = (await readAll(r, run(T + 60 * MINUTE))).flat();
    expect(later.map(wave)).toEqual(first.map(wave));
    expect(second.map(wave)).not.toEqual(first.map(wave));
    await r.close();
  });

  it('gives the same messages to a rerun of the same run, in batches of maxBatch', async () => {
    const r = reader({ devices: 5, seed: 1, maxBatch: 2 });
    await r.connect(AbortSignal.timeout(1000));
    const once = await readAll(r, run(T));
    expect(once.map((b) => b.length)).toEqual([2, 2, 1]);
    const again = await readAll(r, { ...run(T), attempt: 2 });
    expect(again).toEqual(once);
    await r.close();
  });
});

runReaderConformance('simulator', () => ({
  create: (ctx) =>
    simulatorSource.createReader!(simulatorSourceConfig.parse({ devices: 4, seed: 3, maxBatch: 3 }), ctx),
  window: { start: T - 15 * MINUTE, end: T },
  times: 'snapshot',
  minMessages: 4,
}));
