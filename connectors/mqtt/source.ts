import { randomBytes } from 'node:crypto';
import {
  ErrorWithSubackPacket,
  Store,
  type IClientOptions,
  type IPublishPacket,
  type MqttClient,
  type Packet,
} from 'mqtt';
import {
  Inbox,
  MESSAGE_OVERHEAD_BYTES,
  jsonMessage,
  errorMessage,
  receptionTime,
  type ComponentContext,
  type Delivery,
  type Message,
  type Source,
} from '../../src/sdk/index.js';
import { MqttConnection } from './connection.js';
import { decodePayload } from './payload.js';
import { PubackGate } from './puback-gate.js';
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
  private conn: MqttConnection | undefined;
  private inbox: Inbox | undefined;
  private gate: PubackGate | undefined;
  // MQTT has no message identity (packet ids are reused once acknowledged): ids are unique per receipt.
  private readonly idPrefix = randomBytes(6).toString('hex');
  private seq = 0;

  constructor(
    private readonly config: MqttSourceConfig,
    private readonly ctx: ComponentContext,
  ) {}

  async connect(signal: AbortSignal): Promise<void> {
    await this.teardown();
    const { config } = this;
    const inbox = new Inbox({
      capacity: config.receiveMaximum,
      maxBatch: config.batchSize,
      budget: this.ctx.memoryBudget,
    });
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
    // Bound to this connection's inbox and gate, so a stale client can never feed a newer one.
    const gateRef: { gate?: PubackGate } = {};
    const conn = new MqttConnection(config, this.ctx, {
      clean: config.cleanSession,
      properties,
      incomingStore: new Qos2Intake((packet, done) => this.receive(packet, done, inbox, gateRef.gate)),
    });
    const client = conn.client;
    // Hooks go in before connect(): a persistent session's queued messages come right after the CONNACK.
    const gate = new PubackGate(client);
    gateRef.gate = gate;
    client.handleMessage = (packet, callback) => {
      // QoS 2 messages were taken at PUBLISH (Qos2Intake); this is their PUBREL: let the PUBCOMP go.
      if (packet.qos === 2) callback();
      else this.receive(packet, callback, inbox, gate);
    };
    client.on('close', () => gate.reset());
    let first = true;
    client.on('connect', (connack) => {
      if (first || connack.sessionPresent) return;
      this.subscribe(client).catch((error: unknown) => {
        this.ctx.logger.error(
          { url: conn.where, err: errorMessage(error) },
          'MQTT subscription failed after reconnect',
        );
      });
    });
    if (properties?.maximumPacketSize)
      this.ctx.logger.info(
        { url: conn.where, maximumPacketSize: properties.maximumPacketSize },
        'MQTT 5: Maximum Packet Size announced to the broker; larger messages are dropped by the broker (Mosquitto logs "Dropping too large outgoing PUBLISH" at notice level), not sent here',
      );
    this.conn = conn;
    this.inbox = inbox;
    this.gate = gate;
    let sessionPresent = false;
    client.once('connect', (connack) => (sessionPresent = connack.sessionPresent === true));
    try {
      await conn.open(signal);
      first = false;
      // Always subscribe on the first connection, even to a resumed session: the topics may have changed.
      if (sessionPresent) {
        // A resumed session's queued messages arrive before the SUBACK. Waiting for it here, while
        // the engine does not read yet, would deadlock once the inbox is full: subscribe in the background.
        this.subscribe(client).catch((error: unknown) => {
          this.ctx.logger.error({ url: conn.where, err: errorMessage(error) }, 'MQTT subscription failed');
          this.ctx.setState('reconnecting', error instanceof Error ? error : new Error(String(error)));
        });
      } else {
        await this.subscribe(client);
      }
    } catch (error) {
      await this.teardown();
      throw error;
    }
  }

  read(signal: AbortSignal): Promise<Delivery | null> {
    if (!this.inbox) return Promise.reject(new Error('mqtt source: read() before connect()'));
    return this.inbox.read(signal);
  }

  async close(): Promise<void> {
    if (await this.teardown()) this.ctx.setState('stopped');
  }

  /** Ends the connection; true when there was one. */
  private async teardown(): Promise<boolean> {
    const conn = this.conn;
    this.inbox?.close();
    this.gate?.reset();
    this.conn = undefined;
    this.gate = undefined;
    if (!conn) return false;
    await conn.end();
    return true;
  }

  /** Held acknowledgements, for tests and status. */
  get heldAcks(): number {
    return this.gate?.size ?? 0;
  }

  private subscribe(client: MqttClient): Promise<void> {
    const { topics, qos } = this.config;
    return new Promise((resolve, reject) => {
      client.subscribe(topics, { qos }, (error) => {
        if (!error) return resolve();
        // A SUBACK with a failure code; anything else is a lost connection.
        const refused = error instanceof ErrorWithSubackPacket;
        const what = refused ? 'the broker refused the subscription to' : 'could not subscribe to';
        reject(new Error(`${what} ${topics.join(', ')}: ${error.message}`, { cause: error }));
      });
    });
  }

  /** One PUBLISH: decode, hand to the inbox (or the dead letters) and hold its ack until stored. */
  private receive(packet: IPublishPacket, done: Done, inbox: Inbox, gate: PubackGate | undefined): void {
    if (!gate) return done();
    const settle = packet.qos > 0 && packet.messageId !== undefined ? gate.hold(packet.messageId) : undefined;
    const bytes = typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : packet.payload;
    const meta: Record<string, unknown> = {
      'mqtt.topic': packet.topic,
      'mqtt.qos': packet.qos,
      'mqtt.retain': packet.retain,
      'mqtt.dup': packet.dup,
    };
    const userProperties = packet.properties?.userProperties;
    if (userProperties) meta['mqtt.userProperties'] = userProperties;
    const id = `${this.idPrefix}-${++this.seq}`;
    const time = receptionTime();
    const decoded = decodePayload(bytes, this.config.payload, this.config.maxPayloadBytes);
    if (!decoded.ok) {
      // The ack waits for the dead letter to be stored, like any other message.
      const dead: Message = { id, payload: bytes, meta, time };
      Promise.resolve()
        .then(() => this.ctx.deadLetter(dead, decoded.reason))
        .then(
          () => settle?.(true),
          (error: unknown) => {
            this.ctx.logger.error(
              { topic: packet.topic, err: errorMessage(error) },
              'could not store a dead letter; the message is not acknowledged',
            );
            settle?.(false);
          },
        );
      return done();
    }
    inbox.push(
      decoded.text === undefined
        ? { id, payload: decoded.value, meta, time }
        : jsonMessage(id, decoded.value, decoded.text, meta, time),
      settle && ((error) => settle(!error)),
      bytes.byteLength + MESSAGE_OVERHEAD_BYTES,
    );
    // Full: stop taking packets, so TCP backpressure reaches the broker.
    if (inbox.full) void inbox.whenSpace().then(() => done());
    else done();
  }
}
