import { performance } from 'node:perf_hooks';
import {
  createDelivery,
  receptionTime,
  type ComponentContext,
  type Delivery,
  type Message,
  type Source,
} from '../../src/sdk/index.js';
import { createDevices, createRandom, type DeviceState } from './generator.js';
import type { SimulatorSourceConfig } from './spec.js';

/** Reads closer together than this are merged, so high rates come as batches, not one timer per message. */
export const MIN_TICK_MS = 10;

export interface TimerStats {
  /** Timer wake-ups. */
  wakeups: number;
  /** How late the timers fired, on average and at worst, in milliseconds. */
  meanLateMs: number;
  maxLateMs: number;
  /** Messages never generated because the pipeline was more than a second behind. */
  skipped: number;
}

/**
 * Generates messages on a schedule fixed to the start time (message k is due at start + k / rate),
 * so late timers delay messages but never change how many are produced over time.
 */
export class SimulatorSource implements Source {
  private readonly devices: DeviceState[];
  private readonly intervalMs: number;
  private readonly limit: number;
  /** How far behind schedule it may fall before skipping ahead (messages). */
  private readonly maxLag: number;
  private started = false;
  private startPerf = 0;
  private startWall = 0;
  /** Wall time of the first message; sine fields follow the time elapsed since, even across skips. */
  private originWall = 0;
  private lastRead = -Infinity;
  private emitted = 0;
  private closed = false;
  private wake: (() => void) | undefined;
  private readonly redeliveries: Message[][] = [];
  private lateTotal = 0;
  private readonly stats: TimerStats = { wakeups: 0, meanLateMs: 0, maxLateMs: 0, skipped: 0 };

  constructor(
    private readonly config: SimulatorSourceConfig,
    private readonly ctx: ComponentContext,
  ) {
    const random = createRandom(config.seed ?? Math.floor(Math.random() * 2 ** 32));
    this.devices = createDevices(config.devices, config.fields, random);
    this.intervalMs = 1000 / config.rate;
    this.limit = config.count ?? Infinity;
    this.maxLag = Math.max(config.maxBatch, Math.ceil(config.rate));
  }

  async connect(_signal: AbortSignal): Promise<void> {
    // Connect after close works again (source contract): the clock goes on where it stopped.
    this.closed = false;
    this.ctx.setState('connected');
  }

  async read(signal: AbortSignal): Promise<Delivery | null> {
    for (;;) {
      if (this.closed || signal.aborted) return null;
      const again = this.redeliveries.shift();
      if (again) return this.deliver(again);
      if (this.emitted >= this.limit) return null;
      const now = performance.now();
      if (!this.started) {
        this.started = true;
        this.startPerf = now;
        this.startWall = receptionTime();
        this.originWall = this.startWall;
      }
      let backlog = this.dueBy(now) - this.emitted;
      if (backlog > this.maxLag) {
        // Behind by more than a second (the pipeline is backpressured): skip ahead rather than burst.
        const skip = backlog - this.config.maxBatch;
        this.startPerf += skip * this.intervalMs;
        this.startWall += skip * this.intervalMs;
        this.stats.skipped += skip;
        this.ctx.logger.debug({ skipped: skip }, 'simulator behind schedule, skipping ahead');
        backlog = this.config.maxBatch;
      }
      if (backlog >= this.config.maxBatch || (backlog > 0 && now >= this.lastRead + MIN_TICK_MS)) {
        this.lastRead = now;
        return this.deliver(this.generate(Math.min(backlog, this.config.maxBatch)));
      }
      const target =
        backlog > 0 ? this.lastRead + MIN_TICK_MS : this.startPerf + this.emitted * this.intervalMs;
      await this.sleep(target - now, signal);
      const late = performance.now() - target;
      if (late > 0) {
        this.stats.wakeups++;
        this.lateTotal += late;
        this.stats.meanLateMs = this.lateTotal / this.stats.wakeups;
        if (late > this.stats.maxLateMs) this.stats.maxLateMs = late;
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    this.ctx.logger.debug({ ...this.stats, emitted: this.emitted }, 'simulator timer stats');
    this.ctx.setState('stopped');
  }

  timerStats(): TimerStats {
    return { ...this.stats };
  }

  /** Messages due by `now`, counting the first as due at the start. */
  private dueBy(now: number): number {
    return Math.min(this.limit, Math.floor((now - this.startPerf) / this.intervalMs) + 1);
  }

  private generate(n: number): Message[] {
    const out: Message[] = new Array<Message>(n);
    const deviceCount = this.devices.length;
    for (let i = 0; i < n; i++) {
      const k = this.emitted + i;
      const device = this.devices[k % deviceCount] as DeviceState;
      const exact = this.startWall + k * this.intervalMs;
      // Whole microseconds: up to a million messages a second keep distinct times.
      const time = Math.round(exact * 1000) / 1000;
      const seq = ++device.seq;
      const payload: Record<string, unknown> = { device: device.id, seq };
      for (const [name, next] of device.fields) payload[name] = next(exact - this.originWall);
      payload.ts = time;
      out[i] = {
        id: `${device.id}:${seq}`,
        payload,
        meta: { 'simulator.device': device.id, 'simulator.seq': seq },
        time,
      };
    }
    this.emitted += n;
    return out;
  }

  /** A failed ack puts the batch back, so retry paths can be tried out; nothing survives a restart. */
  private deliver(messages: Message[]): Delivery {
    return createDelivery(messages, (error) => {
      if (error && !this.closed) this.redeliveries.push(messages);
    });
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }
}
