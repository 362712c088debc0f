import { Store, type IClientOptions, type IPublishPacket, type Packet } from 'mqtt';
import {
  MESSAGE_OVERHEAD_BYTES,
  type Inbox,
  jsonMessage,
  errorMessage,
  receptionTime,
  uniqueHex,
  type ComponentContext,
  type Delivery,
  type Message,
  type Source,
} from '../../src/sdk/index.js';
import { MqttConnection } from './connection.js';
import { decodePayload } from './payload.js';
import { releaseWhenRoom } from './keepalive-hold.js';
import { PubackGate } from './puback-gate.js';
import { StallWatch } from './stall-watch.js';
import { MqttSourceLink, subscribeOrFail } from './source-link.js';
import type { MqttSourceConfig } from './spec.js';

const DEFAULT_SESSION_EXPIRY_S = 24 * 3600;
/** Room above maxPayloadBytes in the announced Maximum Packet Size: the longest topic, the header and some properties. */
export const MAX_PACKET_HEADROOM = 65_535 + 1024;
/** The largest packet MQTT can describe (remaining length of four bytes). */
const MQTT_MAX_PACKET = 268_435_455;

type Done = (error?: Error) => void;

/**
 * mqtt.js hands a QoS 2 message to `handleMessage` only after PUBREL, i.e. after our PUBREC told
 * the broker we own it. To hold the PUBREC until the message is stored, QoS 2 messages are taken
 * where mqtt.js stores them on arrival (the `incomingStore` option), before the PUBREC is sent.
 */
export class Qos2Intake extends Store {
  constructor(private readonly onPublish: (packet: IPublishPacket, done: Done) => void) {
    super();
  }

  override put(packet: Packet, cb: Done): this {
    return super.put(packet, () => {
      if (packet.cmd === 'publish') this.onPublish(packet, cb);
      else cb();
    });
  }
}

/** The Maximum Packet Size announced for a source's maxPayloadBytes. */
export function maximumPacketSize(maxPayloadBytes: number): number {
  return Math.min(MQTT_MAX_PACKET, maxPayloadBytes + MAX_PACKET_HEADROOM);
}

export class MqttSource implements Source {
  private readonly link: MqttSourceLink;
  private gate: PubackGate | undefined;
  // MQTT has no message identity (packet ids are reused once acknowledged): ids are unique per receipt.
  // The prefix ends with its dash: `prefix + seq` is one string concatenation where a template
  // `${random}-${seq}` made two (87 against 56 bytes per id, held as long as the message).
  private readonly idPrefix = `${uniqueHex(6)}-`;
  private seq = 0;
  /** The meta of the last message without user properties (see metaOf). */
  private lastMeta: Record<string, unknown> | undefined;
  private readonly stallWatch: StallWatch | undefined;
  private readonly stallListeners = new Set<() => void>();

  constructor(
    private readonly config: MqttSourceConfig,
    private readonly ctx: ComponentContext,
  ) {
    this.link = new MqttSourceLink('mqtt', ctx, () => {
      this.gate?.reset();
      this.gate = undefined;
      this.stallWatch?.stop();
    });
    // MQTT 5 brokers honour our Receive Maximum (the window); 3.1.1 ones stop at a limit of their
    // own. One watch for every connection: what it learnt of the broker stays true after a reconnect.
    if (config.protocolVersion === 4 && config.qos > 0)
      this.stallWatch = new StallWatch(
        () => this.gate?.size ?? 0,
        () => this.reportStall(),
      );
  }

  connect(signal: AbortSignal): Promise<void> {
    const { config } = this;
    const properties: IClientOptions['properties'] =
      config.protocolVersion === 5
        ? {
            // The broker sends at most this many unacknowledged QoS 1/2 messages: the inbox never overflows with them.
            receiveMaximum: config.receiveMaximum,
            // The broker does not send larger packets at all (it drops them), so a huge publish costs us nothing.
            maximumPacketSize: maximumPacketSize(config.maxPayloadBytes),
            ...(config.cleanSession
              ? {}
              : {
                  sessionExpiryInterval: Math.round(
                    (config.sessionExpiry ?? DEFAULT_SESSION_EXPIRY_S * 1000) / 1000,
                  ),
                }),
          }
        : undefined;
    return this.link.connect(
      signal,
      { capacity: config.receiveMaximum, batchSize: config.batchSize },
      {
        create: (inbox) => {
          // Bound to this connection's inbox and gate, so a stale client can never feed a newer one.
          const gateRef: { gate?: PubackGate } = {};
          const conn = new MqttConnection(config, this.ctx, {
            clean: config.cleanSession,
            properties,
            incomingStore: new Qos2Intake((packet, done) => this.receive(packet, done, inbox, gateRef.gate)),
          });
          const client = conn.client;
          // Hooks go in before connect(): a persistent session's queued messages come right after the CONNACK.
          const gate = new PubackGate(client, () => this.stallWatch?.released());
          gateRef.gate = gate;
          client.handleMessage = (packet, callback) => {
            // QoS 2 messages were taken at PUBLISH (Qos2Intake); this is their PUBREL: let the PUBCOMP go.
            if (packet.qos === 2) callback();
            else this.receive(packet, callback, inbox, gate);
          };
          client.on('close', () => gate.reset());
          if (properties?.maximumPacketSize)
            this.ctx.logger.info(
              { url: conn.where, maximumPacketSize: properties.maximumPacketSize },
              'MQTT 5: Maximum Packet Size announced to the broker; larger messages are dropped by the broker (Mosquitto logs "Dropping too large outgoing PUBLISH" at notice level), not sent here',
            );
          this.gate = gate;
          return conn;
        },
        subscribe: async (client, connack, first) => {
          const subscribe = (): Promise<void> => subscribeOrFail(client, config.topics, config.qos);
          // A resumed session kept the subscriptions; after a reconnection that is enough.
          if (!first) return connack.sessionPresent ? undefined : subscribe();
          // Always subscribe on the first connection, even to a resumed session: the topics may have changed.
          if (!connack.sessionPresent) return subscribe();
          // A resumed session's queued messages arrive before the SUBACK. Waiting for it here, while
          // the engine does not read yet, would deadlock once the inbox is full: subscribe in the background.
          subscribe().catch((error: unknown) => {
            this.ctx.logger.error(
              { url: this.link.conn?.where, err: errorMessage(error) },
              'MQTT subscription failed',
            );
            this.ctx.setState('reconnecting', error instanceof Error ? error : new Error(String(error)));
          });
        },
      },
    );
  }

  /** The inbox bounds messages received and not yet stored (Source.window). */
  get window(): number {
    return this.config.receiveMaximum;
  }

  onStalled(listener: () => void): () => void {
    this.stallListeners.add(listener);
    return () => this.stallListeners.delete(listener);
  }

  private reportStall(): void {
    for (const listener of this.stallListeners) listener();
  }

  read(signal: AbortSignal): Promise<Delivery | null> {
    return this.link.read(signal);
  }

  close(): Promise<void> {
    return this.link.close();
  }

  /** Held acknowledgements, for tests and status. */
  get heldAcks(): number {
    return this.gate?.size ?? 0;
  }

  /**
   * The meta of a message. Consecutive messages of one topic with the same flags and no user
   * properties share one meta object (components copy a meta to change it, never edit it): a flood
   * then holds one meta rather than one per message in flight, and transforms that add to it
   * (unit-convert's units) can share their copy too (issue 17: each lived through a scavenge).
   */
  private metaOf(packet: IPublishPacket): Record<string, unknown> {
    const userProperties = packet.properties?.userProperties;
    const last = this.lastMeta;
    if (
      userProperties === undefined &&
      last !== undefined &&
      last['mqtt.topic'] === packet.topic &&
      last['mqtt.qos'] === packet.qos &&
      last['mqtt.retain'] === packet.retain &&
      last['mqtt.dup'] === packet.dup
    )
      return last;
    const meta: Record<string, unknown> = {
      'mqtt.topic': packet.topic,
      'mqtt.qos': packet.qos,
      'mqtt.retain': packet.retain,
      'mqtt.dup': packet.dup,
    };
    if (userProperties) meta['mqtt.userProperties'] = userProperties;
    this.lastMeta = userProperties ? undefined : meta;
    return meta;
  }

  /** One PUBLISH: decode, hand to the inbox (or the dead letters) and hold its ack until stored. */
  private receive(packet: IPublishPacket, done: Done, inbox: Inbox, gate: PubackGate | undefined): void {
    if (!gate) return done();
    const settle = packet.qos > 0 && packet.messageId !== undefined ? gate.hold(packet.messageId) : undefined;
    if (settle) this.stallWatch?.arrived();
    const bytes = typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : packet.payload;
    const meta = this.metaOf(packet);
    const id = this.idPrefix + ++this.seq;
    const time = receptionTime();
    const decoded = decodePayload(bytes, this.config.payload, this.config.maxPayloadBytes);
    if (!decoded.ok) {
      // The ack waits for the dead letter to be stored, like any other message.
      const dead: Message = { id, payload: bytes, meta, time };
      Promise.resolve()
        .then(() => this.ctx.deadLetter(dead, decoded.reason))
        .then(
          () => settle?.settle(),
          (error: unknown) => {
            this.ctx.logger.error(
              { topic: packet.topic, err: errorMessage(error) },
              'could not store a dead letter; the message is not acknowledged',
            );
            settle?.settle(error instanceof Error ? error : new Error(String(error)));
          },
        );
      return done();
    }
    inbox.push(
      decoded.text === undefined
        ? { id, payload: decoded.value, meta, time }
        : jsonMessage(id, decoded.value, decoded.text, meta, time),
      settle,
      bytes.byteLength + MESSAGE_OVERHEAD_BYTES,
    );
    releaseWhenRoom(inbox, this.link.conn?.client, done);
  }
}
