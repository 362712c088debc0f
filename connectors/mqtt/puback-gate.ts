import type { MqttClient, Packet } from 'mqtt';

/**
 * Deferred acknowledgements (protocol notes §5.6): the PUBACK of a QoS 1 message, and the PUBREC
 * of a QoS 2 message, leave only once the message is stored, and in the order the PUBLISH packets
 * arrived (MQTT 3.1.1 and 5.0 §4.6). Packet handling is not held up meanwhile.
 *
 * mqtt.js 5.16.0 has no public hook for this. Its publish handler sends the ack through the private
 * `client._sendPacket(packet, done)`, where `done` also starts the handling of the next incoming
 * packet. This is the only place that touches it: we wrap `_sendPacket` on one client instance,
 * call `done` at once and keep the packet until `hold()`'s settle function says the message is
 * stored. puback-gate.test.ts checks these internals and fails when an mqtt.js upgrade changes them.
 */
export const PINNED_MQTT_VERSION = '5.16.0';

type SendPacket = (
  packet: Packet,
  cb?: (error?: Error) => void,
  cbStorePut?: () => void,
  noStore?: boolean,
) => void;
interface Internals {
  _sendPacket?: SendPacket;
}

interface Entry {
  messageId: number;
  state: 'pending' | 'stored' | 'failed';
  packet?: Packet;
}

export class PubackGate {
  /** Held acks in PUBLISH order. */
  private entries: Entry[] = [];
  /** Entries whose ack packet mqtt.js has not produced yet, by packet identifier. */
  private awaiting = new Map<number, Entry>();
  private readonly send: SendPacket;

  constructor(
    private readonly client: MqttClient,
    /** Called after held acks were sent (once per batch of them). */
    private readonly onSent?: () => void,
  ) {
    const internals = client as unknown as Internals;
    const original = internals._sendPacket;
    if (typeof original !== 'function') {
      throw new Error(
        `mqtt.js internals changed: MqttClient._sendPacket is missing (this connector is pinned to mqtt ${PINNED_MQTT_VERSION})`,
      );
    }
    this.send = original.bind(client);
    internals._sendPacket = (packet, cb, cbStorePut, noStore) => {
      // A non-zero reason code is a refusal mqtt.js decided on: let it through.
      if (
        (packet.cmd === 'puback' || packet.cmd === 'pubrec') &&
        !packet.reasonCode &&
        packet.messageId !== undefined
      ) {
        const entry = this.awaiting.get(packet.messageId);
        if (entry) {
          this.awaiting.delete(packet.messageId);
          entry.packet = packet;
          cb?.(); // lets mqtt.js go on with the next packet
          this.flush();
          return;
        }
        if (!client.connected) {
          // An ack for a lost connection: mqtt.js would queue it and send it on the next connection,
          // where it would acknowledge whatever the broker resent under that packet identifier.
          cb?.();
          return;
        }
      }
      this.send(packet, cb, cbStorePut, noStore);
    };
  }

  /** Held acks not yet sent. */
  get size(): number {
    return this.entries.length;
  }

  /**
   * Registers a QoS 1/2 PUBLISH before mqtt.js acknowledges it. Call the returned function (an
   * inbox's settle) without an error once the message is stored (the ack may go), with one when it
   * could not be (the ack is never sent, so the broker redelivers on the next connection of a
   * persistent session).
   *
   * The function is {@link settle} bound to the entry, not a closure made here: a closure made per
   * message and called only later would lose its optimised code at each full GC (V8 keeps the code
   * of closures only through the ones that have run) and be compiled again (issue 17).
   */
  hold(messageId: number): (error?: Error) => void {
    const entry: Entry = { messageId, state: 'pending', packet: undefined };
    this.entries.push(entry);
    this.awaiting.set(messageId, entry);
    return this.settle.bind(this, entry);
  }

  private settle(entry: Entry, error?: Error): void {
    if (entry.state !== 'pending') return;
    entry.state = error ? 'failed' : 'stored';
    this.flush();
  }

  /**
   * The connection closed: the held acks belong to it and must not be sent on the next one (mqtt.js
   * would queue them offline). The broker resends those messages to a persistent session.
   */
  reset(): void {
    this.entries = [];
    this.awaiting.clear();
  }

  private flush(): void {
    let sent = false;
    for (;;) {
      const head = this.entries[0];
      if (!head || head.state === 'pending') break;
      if (head.state === 'stored' && !head.packet) break; // mqtt.js has not produced the ack yet
      this.entries.shift();
      // A failed entry still waiting for its packet stays in `awaiting`, so the packet is swallowed.
      if (head.state === 'stored' && head.packet && this.client.connected) {
        this.send(head.packet);
        sent = true;
      }
    }
    if (sent) this.onSent?.();
  }
}
