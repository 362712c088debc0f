/** How long the broker may send nothing, while we hold acknowledgements, before we call it a stall. */
export const STALL_QUIET_MS = 10;
/** While the stall lasts (the store is slow), it is reported again at growing intervals up to this. */
const MAX_REPEAT_MS = 1000;

/**
 * How the broker answers our acknowledgements when it holds messages back: at least this many
 * messages (or as many as were acknowledged, if fewer) within ANSWER_MS. Not at once: with Nagle on
 * (Mosquitto's default) the answer trickles in over our delayed TCP acknowledgements (17 of 20 took
 * 62 ms). A publisher would have to send 200 a second to look like that.
 */
const ANSWER_MS = 100;
const ANSWER_COUNT = 20;

/**
 * MQTT 3.1.1 has no flow control: the broker stops sending at its own in-flight limit (Mosquitto's
 * `max_inflight_messages`, 20 by default; RabbitMQ's `mqtt.prefetch`) and a 3.1.1 client is never
 * told that limit. The source holds each acknowledgement until its message is stored, so a sink batch
 * larger than the broker's limit would wait its whole maxWait for messages that cannot come.
 *
 * A pause alone does not tell a broker that holds messages back from a publisher that is slow, and
 * storing every batch at each pause would make them tiny (a sink with quotas, such as Google Sheets,
 * would pay for it). So the watch learns the broker's limit first: a pause with `n` acknowledgements
 * held, then, once the sinks' maxWait stored the batch and the acknowledgements went out, an answer
 * of at least min(n, 20) messages within 100 ms. From then on a pause with at least n / 2 held is
 * reported at once (`quietMs`); an answer that does not come so (a slow publisher, or the backlog is
 * gone) forgets the limit. Only the first stall waits for maxWait.
 *
 * One timer, armed by an arrival and re-armed only while acknowledgements are held: nothing runs
 * while the source is idle, and nothing per message but a counter.
 */
export class StallWatch {
  private arrivals = 0;
  private checked = 0;
  private timer: NodeJS.Timeout | undefined;
  private repeatMs = 0;
  /** Acknowledgements held when the broker went quiet (0: not quiet since the last arrival). */
  private quietHeld = 0;
  /** After a quiet stretch, when the acknowledgements went out and how many were held then. */
  private release: { at: number; held: number; answered: number } | undefined;
  /** The broker's in-flight limit as last seen (0: not seen, or forgotten). */
  limit = 0;

  constructor(
    /** Acknowledgements held now. */
    private readonly held: () => number,
    private readonly stalled: () => void,
    private readonly quietMs = STALL_QUIET_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  arrived(): void {
    this.arrivals++;
    this.quietHeld = 0;
    const release = this.release;
    if (release) {
      if (this.now() - release.at > ANSWER_MS) {
        this.limit = 0; // not the answer of a broker that held messages back
        this.release = undefined;
      } else if (++release.answered >= Math.min(release.held, ANSWER_COUNT)) {
        this.limit = release.held;
        this.release = undefined;
      }
    }
    if (this.repeatMs > 0) {
      // The flow resumed after a stall: watch closely again.
      this.stop();
      this.repeatMs = 0;
    }
    if (!this.timer) this.arm(this.quietMs);
  }

  /** Acknowledgements were sent. */
  released(): void {
    if (this.quietHeld === 0) return;
    this.release = { at: this.now(), held: this.quietHeld, answered: 0 };
    this.quietHeld = 0;
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
    const held = this.held();
    if (held === 0) return; // everything acknowledged: sleep until the next arrival
    if (this.arrivals !== this.checked) {
      this.checked = this.arrivals;
      this.arm(this.quietMs);
      return;
    }
    if (this.quietHeld === 0) this.quietHeld = held;
    // Not (yet) known to be the broker's limit: the sinks' maxWait stores the batch, released() follows.
    if (this.limit === 0 || held < Math.max(1, this.limit >> 1)) return;
    this.stalled();
    // Held still: the store may be slow, or the engine had not read the last messages yet.
    this.repeatMs = Math.min(MAX_REPEAT_MS, this.repeatMs === 0 ? this.quietMs * 2 : this.repeatMs * 2);
    this.arm(this.repeatMs);
  };
}
