import { SinkStoppedError, type ComponentContext } from '../../src/sdk/index.js';

/**
 * Whether the sink can write, and the component state it reports: stopped for good (Google refuses
 * the configuration), or the API out of reach until a call or the probe gets through again.
 */
export class SinkHealth {
  private stoppedBy: SinkStoppedError | undefined;
  private up = true;

  constructor(private readonly ctx: ComponentContext) {}

  /** Throws why the sink stopped, if it did: every call after the stop fails with it. */
  assertRunning(): void {
    if (this.stoppedBy) throw this.stoppedBy;
  }

  get reachable(): boolean {
    return this.up;
  }

  /** A new connection: nothing is known against it yet. */
  reset(): void {
    this.stoppedBy = undefined;
    this.up = true;
  }

  stop(reason: string): SinkStoppedError {
    this.stoppedBy = new SinkStoppedError(`google-sheets sink stopped: ${reason}`);
    this.ctx.setState('stopped', this.stoppedBy);
    return this.stoppedBy;
  }

  /** A stop raised deeper down (the spreadsheet is full) counts once, like one decided here. */
  stoppedWith(error: SinkStoppedError): void {
    if (this.stoppedBy) return;
    this.stoppedBy = error;
    this.ctx.setState('stopped', error);
  }

  markReachable(): void {
    if (this.up) return;
    this.up = true;
    if (!this.stoppedBy) this.ctx.setState('connected');
  }

  markUnreachable(error: unknown): void {
    if (!this.up || this.stoppedBy) return;
    this.up = false;
    this.ctx.setState('reconnecting', error instanceof Error ? error : new Error(String(error)));
  }
}
