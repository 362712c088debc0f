import { hostname } from 'node:os';
import {
  createDelivery,
  errorMessage,
  type ComponentContext,
  type ComponentCounter,
  type Delivery,
  type Message,
  type Source,
} from '../../src/sdk/index.js';
import { MqttSource } from '../mqtt/source.js';
import type { MqttSourceConfig } from '../mqtt/spec.js';
import { EventError, eventOf, parseEvent, type ParsedEvent } from './events.js';
import { IdentityCache } from './identities.js';
import { decodeProtobufEvent } from './protobuf.js';
import { buildRecord, dedupKey } from './record.js';
import { matchEventTopic, subscriptionFilters, type ChirpstackSourceConfig } from './spec.js';
import { Deduplicator, DeviceTracker, metricDevices, type Undo } from './tracker.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The MQTT source config behind a chirpstack source: persistent session, QoS 1, bytes payloads. */
export function mqttConfigFor(config: ChirpstackSourceConfig, pipeline: string): MqttSourceConfig {
  const clientId =
    config.clientId ??
    (config.shareGroup ? `passerelle-${pipeline}-${hostname()}` : `passerelle-${pipeline}`);
  return {
    url: config.url,
    clientId,
    protocolVersion: config.protocolVersion,
    username: config.username,
    password: config.password,
    tls: config.tls,
    keepalive: config.keepalive,
    connectTimeout: config.connectTimeout,
    reconnectDelay: config.reconnectDelay,
    reconnectMaxDelay: config.reconnectMaxDelay,
    topics: subscriptionFilters(config),
    qos: config.qos,
    cleanSession: config.cleanSession,
    sessionExpiry: config.sessionExpiry,
    // Parsed here rather than by the MQTT source: the format (JSON or Protobuf) is detected per message.
    payload: 'bytes',
    maxPayloadBytes: config.maxPayloadBytes,
    receiveMaximum: config.receiveMaximum,
    batchSize: config.batchSize,
  };
}

/** True when the payload starts (after blanks) with `{`: JSON, else v4 binary Protobuf. */
export function isJsonPayload(bytes: Uint8Array): boolean {
  for (const b of bytes) {
    if (b === 0x7b /* { */) return true;
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0a) return false;
  }
  return false;
}

/** JSON body of an event payload. Throws EventError. */
export function parseBody(bytes: Uint8Array): unknown {
  if (bytes.length === 0) throw new EventError('empty payload');
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new EventError(`invalid UTF-8 in the payload (${bytes.length} bytes)`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = errorMessage(error);
    throw new EventError(`invalid JSON: ${reason.length > 200 ? `${reason.slice(0, 200)}...` : reason}`);
  }
}

/**
 * Reads ChirpStack events through the MQTT source (its connection, persistent session and held
 * acknowledgements), and turns each delivery into normalised records: bad events are
 * dead-lettered with the reason, duplicates and unselected events are left out, and the MQTT
 * delivery is acknowledged once what is left is settled.
 */
export class ChirpstackSource implements Source {
  private readonly mqtt: MqttSource;
  private readonly dedup: Deduplicator;
  private readonly tracker: DeviceTracker;
  private readonly identities: IdentityCache;
  private readonly duplicates: ComponentCounter;
  private readonly ignored: ComponentCounter;
  private readonly decodeErrors: ComponentCounter;
  private readonly allEvents: boolean;

  constructor(
    private readonly config: ChirpstackSourceConfig,
    private readonly ctx: ComponentContext,
  ) {
    this.mqtt = new MqttSource(mqttConfigFor(config, ctx.pipeline), ctx);
    this.dedup = new Deduplicator(config.dedupWindow);
    this.tracker = new DeviceTracker(config.maxDevices, ctx.metrics, metricDevices(config.deviceMetrics));
    this.identities = new IdentityCache(config.maxDevices);
    this.duplicates = ctx.metrics.counter(
      'passerelle_chirpstack_duplicates_total',
      'ChirpStack events left out as duplicates (same deduplicationId, or device and fCnt, within dedupWindow).',
    );
    this.ignored = ctx.metrics.counter(
      'passerelle_chirpstack_ignored_total',
      'ChirpStack events of a type not selected in `events` (e.g. from an older subscription of a persistent session).',
    );
    this.decodeErrors = ctx.metrics.counter(
      'passerelle_chirpstack_decode_errors_total',
      'Uplinks whose frame the configured decoder refused (onDecodeError keep: passed on with object null and the reason in objectError).',
    );
    this.allEvents = config.events.includes('*');
  }

  connect(signal: AbortSignal): Promise<void> {
    return this.mqtt.connect(signal);
  }

  get window(): number {
    return this.mqtt.window;
  }

  onStalled(listener: () => void): () => void {
    return this.mqtt.onStalled(listener);
  }

  async read(signal: AbortSignal): Promise<Delivery | null> {
    for (;;) {
      const delivery = await this.mqtt.read(signal);
      if (!delivery) return null;
      const mapped = await this.map(delivery);
      if (mapped) return mapped;
    }
  }

  close(): Promise<void> {
    return this.mqtt.close();
  }

  /** Devices tracked and dedup keys held, for tests and status. */
  get stats(): { devices: number; dedupKeys: number } {
    return { devices: this.tracker.size, dedupKeys: this.dedup.size };
  }

  /** The records of one MQTT delivery, or undefined when none is left (the delivery is then settled). */
  private async map(delivery: Delivery): Promise<Delivery | undefined> {
    const records: Message[] = [];
    const undos: Undo[] = [];
    const dead: { message: Message; reason: string }[] = [];
    let duplicates = 0;
    let ignored = 0;
    let decodeErrors = 0;
    const now = Date.now();
    for (const message of delivery.messages) {
      try {
        const event = this.parse(message);
        if (!event) {
          ignored++;
          continue;
        }
        // First, so that the dedup key, the tracker's map and the record all use the kept strings.
        const topic = this.identities.intern(event, message.meta['mqtt.topic'] as string);
        const key = dedupKey(event);
        if (key !== undefined) {
          const undo = this.dedup.admit(key, now);
          if (!undo) {
            duplicates++;
            continue;
          }
          undos.push(undo);
        }
        const eventTime = Date.parse(event.time);
        let counters = { fCntGap: 0, fCntReset: false };
        if ('uplink' in event) {
          const outcome = this.tracker.uplink(
            event.devEui,
            event.uplink.fCnt,
            eventTime,
            event.uplink.gateway,
          );
          undos.push(outcome.undo);
          counters = outcome;
        } else {
          undos.push(this.tracker.seen(event.devEui, eventTime));
        }
        const record = buildRecord(event, this.config, counters);
        if (record.payload.objectError != null) decodeErrors++;
        const meta = Object.assign(record.meta, message.meta);
        meta['mqtt.topic'] = topic;
        records.push({
          id: key === undefined ? message.id : `chirpstack:${key}`,
          payload: record.payload,
          meta,
          time: record.time,
        });
      } catch (error) {
        if (!(error instanceof EventError)) throw error;
        dead.push({ message, reason: `chirpstack: ${error.message}` });
      }
    }
    const rollback = (): void => {
      for (const undo of undos.reverse()) undo();
    };
    if (duplicates > 0) this.duplicates.inc(undefined, duplicates);
    if (ignored > 0) this.ignored.inc(undefined, ignored);
    if (decodeErrors > 0) this.decodeErrors.inc(undefined, decodeErrors);
    if (dead.length > 0) {
      try {
        // The MQTT acknowledgement waits for the dead letters to be stored, like for any other message.
        for (const d of dead) await this.ctx.deadLetter(d.message, d.reason);
      } catch (error) {
        this.ctx.logger.error(
          { err: errorMessage(error) },
          'could not store a dead letter; the events are not acknowledged',
        );
        rollback();
        delivery.ack(error instanceof Error ? error : new Error(String(error)));
        return undefined;
      }
    }
    if (records.length === 0) {
      delivery.ack();
      return undefined;
    }
    // Every MQTT message of the delivery holds the source's window until this ack, records or not.
    const held = delivery.held ?? delivery.messages.length;
    // Only the ack is kept: the MQTT messages' payloads are views into the socket's read buffers
    // (64 KB each), which would stay pinned until the records are stored. `ack` is a method (the
    // inbox's deliveries are class instances): it is called on the delivery, never detached.
    delivery.messages = [];
    return createDelivery(
      records,
      (error) => {
        // Not stored: the broker sends these events again, so they must not count as seen.
        if (error) rollback();
        delivery.ack(error);
      },
      held,
    );
  }

  /** The parsed event, or undefined when its type is not selected. Throws EventError. */
  private parse(message: Message): ParsedEvent | undefined {
    const topic = String(message.meta['mqtt.topic']);
    const info = matchEventTopic(this.config.topic, topic);
    if (!info) throw new EventError(`topic "${topic}" does not have the layout "${this.config.topic}"`);
    const bytes = message.payload as Uint8Array;
    const version = this.config.chirpstackVersion;
    let event: ParsedEvent;
    if (isJsonPayload(bytes) || bytes.length === 0) {
      event = parseEvent(parseBody(bytes), info, message.time);
    } else {
      const type = eventOf(info.event);
      if (!type) throw new EventError(`unknown event type "${info.event}"`);
      if (version === 'v3')
        throw new EventError(
          `the payload is not JSON (first byte 0x${(bytes[0] as number).toString(16).padStart(2, '0')}): set the v3 MQTT integration marshaler to json_v3 or json`,
        );
      event = parseEvent(decodeProtobufEvent(type, bytes), info, message.time, true);
    }
    if (version !== 'auto' && !event.format.startsWith(version))
      throw new EventError(
        `a ChirpStack ${event.format.startsWith('v3') ? 'v3' : 'v4'} event (${event.format}) but chirpstackVersion is ${version}`,
      );
    if (!this.allEvents && !this.config.events.includes(event.event)) return undefined;
    return event;
  }
}
