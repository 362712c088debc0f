import type { MqttClient, Packet } from 'mqtt';

/**
 * Deferred acknowledgements (protocol notes §5.6): the PUBACK of a QoS 1 message, and the PUBREC
 * of a QoS 2 message, leave only once the message is stored, and in the order the PUBLISH packets
 * arrived (MQTT 3.1.1 and 5.0 §4.6). Packet handling is not held up meanwhile.
 *
 * mqtt.js 5.16.0 has no public hook for this. Its publish handler sends the ack through the private
 * `client._sendPacket(packet, done)`, where `done` also starts the handling of the next incoming
 * packet. This is the only place that touches it: we wrap `_sendPacket` on one client instance,
 * call `done` at once and keep the ack until `hold()`'s settle says the message is
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

/**
 * One held ack, and its own settle (an inbox's `Settle` object): no closure or bound function per
 * message beside it. Keeps the ack's kind and reason code rather than mqtt.js's packet, and sends
 * the same packet again: a message waits here until stored, long enough for its objects to live
 * through scavenges (issue 17), so it holds as little as it can.
 */
class HeldAck {
  state: 'pending' | 'stored' | 'failed' = 'pending';
  /** The ack mqtt.js produced for it (`puback`, `pubrec`), undefined until then. */
  cmd: 'puback' | 'pubrec' | undefined = undefined;
  /** The packet's reason code (0 or absent: acks with another one are never held). */
  reasonCode: number | undefined = undefined;

  constructor(
    private readonly gate: PubackGate,
    readonly messageId: number,
  ) {}

  /** Without an error once the message is stored (the ack may go); with one when it could not be. */
  settle(error?: Error): void {
    if (this.state !== 'pending') return;
    this.state = error ? 'failed' : 'stored';
    this.gate.flush();
  }

  packet(): Packet {
    const cmd = this.cmd as 'puback' | 'pubrec';
    return this.reasonCode === undefined
      ? { cmd, messageId: this.messageId }
      : { cmd, messageId: this.messageId, reasonCode: this.reasonCode };
  }
}

export class PubackGate {
  /** Held acks in PUBLISH order. */
  private entries: HeldAck[] = [];
  /** Entries whose ack packet mqtt.js has not produced yet, by packet identifier. */
  private awaiting = new Map<number, HeldAck>();
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
          entry.cmd = packet.cmd;
          entry.reasonCode = packet.reasonCode;
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
   * Registers a QoS 1/2 PUBLISH before mqtt.js acknowledges it. Settle the returned object (an
   * inbox's settle) without an error once the message is stored (the ack may go), with one when it
   * could not be (the ack is never sent, so the broker redelivers on the next connection of a
   * persistent session).
   *
   * An object with a `settle` method, not a closure made here: a closure made per message and
   * called only later would lose its optimised code at each full GC (V8 keeps the code of closures
   * only through the ones that have run) and be compiled again (issue 17).
   */
  hold(messageId: number): { settle(error?: Error): void } {
    const entry = new HeldAck(this, messageId);
    this.entries.push(entry);
    this.awaiting.set(messageId, entry);
    return entry;
  }

  /**
   * The connection closed: the held acks belong to it and must not be sent on the next one (mqtt.js
   * would queue them offline). The broker resends those messages to a persistent session.
   */
  reset(): void {
    this.entries = [];
    this.awaiting.clear();
  }

  /** Sends the acks at the head that may go (HeldAck.settle). */
  flush(): void {
    let sent = false;
    for (;;) {
      const head = this.entries[0];
      if (!head || head.state === 'pending') break;
      if (head.state === 'stored' && !head.cmd) break; // mqtt.js has not produced the ack yet
      this.entries.shift();
      // A failed entry still waiting for its packet stays in `awaiting`, so the packet is swallowed.
      if (head.state === 'stored' && head.cmd && this.client.connected) {
        this.send(head.packet());
        sent = true;
      }
    }
    if (sent) this.onSent?.();
  }
}
