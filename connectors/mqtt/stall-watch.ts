/** How long the broker may send nothing, while we hold acknowledgements, before we call it a stall. */
export const STALL_QUIET_MS = 10;
/** While the stall lasts (the store is slow), it is reported again at growing intervals up to this. */
const MAX_REPEAT_MS = 1000;

/**
 * MQTT 3.1.1 has no flow control: the broker stops sending at its own in-flight limit (Mosquitto's
 * `max_inflight_messages`, 20 by default; RabbitMQ's `mqtt.prefetch`) and a 3.1.1 client is never told
 * that limit. The source holds each acknowledgement until its message is stored, so a sink batch
 * larger than the broker's limit would wait its whole maxWait for messages that cannot come.
 * This watch reports when acknowledgements are held and nothing has arrived for `quietMs`: the
 * engine then stores the open batches (`Source.onStalled`), as it does for a full window.
 *
 * One timer, armed by the first arrival and re-armed only while acknowledgements are held: nothing
 * runs while the source is idle, and nothing per message but a counter.
 */
export class StallWatch {
  private arrivals = 0;
  private checked = 0;
  private timer: NodeJS.Timeout | undefined;
  private repeatMs = 0;

  constructor(
    /** Acknowledgements held now. */
    private readonly held: () => number,
    private readonly stalled: () => void,
    private readonly quietMs = STALL_QUIET_MS,
  ) {}

  arrived(): void {
    this.arrivals++;
    if (this.repeatMs > 0) {
      // The flow resumed after a stall: watch closely again.
      this.stop();
      this.repeatMs = 0;
    }
    if (!this.timer) this.arm(this.quietMs);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.check, ms);
    this.timer.unref();
  }

  private readonly check = (): void => {
    this.timer = undefined;
    if (this.held() === 0) return; // everything acknowledged: sleep until the next arrival
    if (this.arrivals !== this.checked) {
      this.checked = this.arrivals;
      this.repeatMs = 0;
      this.arm(this.quietMs);
      return;
    }
    this.stalled();
    // Held still: the store may be slow, or the engine had not read the last messages yet.
    this.repeatMs = Math.min(MAX_REPEAT_MS, this.repeatMs === 0 ? this.quietMs * 2 : this.repeatMs * 2);
    this.arm(this.repeatMs);
  };
}
