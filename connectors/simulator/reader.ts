import {
  RUN_META_KEY,
  type ComponentContext,
  type Message,
  type Run,
  type RunReader,
} from '../../src/sdk/index.js';
import { createDevices, createRandom, type DeviceState } from './generator.js';
import type { SimulatorSourceConfig } from './spec.js';

/**
 * The simulator on a tick (scheduled pipelines): one sample of every device at the tick, timed at
 * the window's end. Fields go on from tick to tick (a random walk takes one step, a counter counts
 * one), a sine is read at the tick's time. A rerun of the same run gives the same messages again.
 */
export class SimulatorReader implements RunReader {
  private devices: DeviceState[] | undefined;
  private last: { runId: string; messages: Message[] } | undefined;

  constructor(
    private readonly config: SimulatorSourceConfig,
    private readonly ctx: ComponentContext,
  ) {}

  async connect(_signal: AbortSignal): Promise<void> {
    // Kept across close/connect: the walk goes on where it stopped.
    this.devices ??= createDevices(
      this.config.devices,
      this.config.fields,
      createRandom(this.config.seed ?? Math.floor(Math.random() * 2 ** 32)),
    );
    this.ctx.setState('connected');
  }

  async *read(run: Run, signal: AbortSignal): AsyncGenerator<Message[]> {
    if (!this.devices) throw new Error('simulator reader: read() before connect()');
    if (signal.aborted) throw signal.reason as Error;
    const messages = this.last?.runId === run.id ? this.last.messages : this.sample(run, this.devices);
    this.last = { runId: run.id, messages };
    for (let i = 0; i < messages.length; i += this.config.maxBatch) {
      // Copies: a transform may not edit them, but the rerun must not see a changed message.
      yield messages.slice(i, i + this.config.maxBatch).map((m) => ({ ...m, meta: { ...m.meta } }));
      if (signal.aborted) throw signal.reason as Error;
    }
  }

  async close(): Promise<void> {
    this.ctx.setState('stopped');
  }

  private sample(run: Run, devices: DeviceState[]): Message[] {
    const time = run.window.end;
    const runMeta = { id: run.id, window: { start: run.window.start, end: run.window.end } };
    return devices.map((device) => {
      const seq = ++device.seq;
      const payload: Record<string, unknown> = { device: device.id, seq };
      // A sine is read at the tick's time since the epoch; walks and counters take one step.
      for (const [name, next] of device.fields) payload[name] = next(time);
      payload.ts = time;
      return {
        id: `${run.id}/${device.id}`,
        payload,
        meta: { 'simulator.device': device.id, 'simulator.seq': seq, [RUN_META_KEY]: runMeta },
        time,
      };
    });
  }
}
