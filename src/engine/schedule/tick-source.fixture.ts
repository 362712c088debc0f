import { z } from 'zod';
import { defineSource, defineTransform, type Message, type Run } from '../../sdk/index.js';

/**
 * A test-only source that can be read on a tick: `rows` readings per run, spread over the run's
 * window (one `value` per reading, `seq` from 0), in batches of `batchSize`. Tests hook `onRead`
 * to fail a read or observe the run; `events` records connect/read/close in order.
 */
export const tickSourceConfig = z.strictObject({
  rows: z.number().int().min(0).default(4).describe('Readings per run.'),
  batchSize: z.number().int().positive().default(2).describe('Readings per batch.'),
  key: z.string().default('m1').describe('The device the readings are from (meta.device).'),
});

export interface TickSourceProbe {
  events: string[];
  runs: Run[];
  /** Called before each batch is yielded: throw to fail the read. */
  onRead?: (run: Run, batch: number) => void;
}

export function tickSource(probe: TickSourceProbe = { events: [], runs: [] }) {
  return defineSource({
    type: 'tick-test',
    title: 'tick test source',
    summary: 'readings spread over the run window (tests only)',
    config: tickSourceConfig,
    readModes: ['tick'],
    delivery: () => 'at-least-once',
    createReader: (config) => ({
      async connect() {
        probe.events.push('connect');
      },
      async *read(run: Run) {
        probe.events.push(`read ${run.id}`);
        probe.runs.push(run);
        const step = (run.window.end - run.window.start) / Math.max(1, config.rows);
        let batch: Message[] = [];
        let n = 0;
        for (let seq = 0; seq < config.rows; seq++) {
          batch.push({
            id: `${config.key}-${run.window.start + Math.floor(seq * step)}`,
            time: run.window.start + Math.floor(seq * step),
            payload: { value: seq },
            meta: { device: config.key },
          });
          if (batch.length === config.batchSize || seq === config.rows - 1) {
            probe.onRead?.(run, n++);
            yield batch;
            batch = [];
          }
        }
      },
      async close() {
        probe.events.push('close');
      },
    }),
  });
}

/** A test-only transform that dead-letters readings with an odd `value`. */
export const rejectOddTransform = defineTransform({
  type: 'reject-odd',
  title: 'reject odd',
  summary: 'rejects odd values (tests only)',
  config: z.strictObject({}),
  create: () => ({
    apply(batch, ctx) {
      return batch.filter((m) => {
        if ((m.payload as { value: number }).value % 2 === 0) return true;
        ctx.reject(m, 'odd value');
        return false;
      });
    },
  }),
});
