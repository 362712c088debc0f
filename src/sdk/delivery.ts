import type { Message } from './message.js';

/**
 * A batch read from a source plus its acknowledgement. `ack()` is called exactly once, when every
 * message derived from the batch is settled (stored in every sink's outbox, filtered or
 * dead-lettered); `ack(error)` when that failed and the source should let the data be redelivered.
 */
export interface Delivery {
  messages: Message[];
  /**
   * How much of the source's `window` this delivery holds until acknowledged, when that is not
   * `messages.length` (e.g. ChirpStack leaves duplicates out, but their MQTT acks wait with it).
   */
  held?: number;
  /**
   * Set when this delivery ends a burst and the source expects nothing more for about this many
   * milliseconds (an OPC UA publish, a poll cycle): the engine stores each sink's open batch whose
   * maxWait would end within that time, since nothing can join it before it would be stored anyway.
   */
  quietFor?: number;
  /** A method: call it on the delivery, never detached (`const ack = d.ack` loses its `this`). */
  ack(error?: Error): void;
}

/** Wraps an ack function so that it runs at most once, whatever the caller does. */
export function createDelivery(messages: Message[], ack: (error?: Error) => void, held?: number): Delivery {
  let settled = false;
  return {
    messages,
    ...(held === undefined ? {} : { held }),
    ack(error?: Error) {
      if (settled) return;
      settled = true;
      ack(error);
    },
  };
}
