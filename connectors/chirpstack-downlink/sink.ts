import {
  BatchError,
  FatalError,
  compileGetter,
  compileTemplate,
  errorMessage,
  type BatchFailure,
  type ComponentContext,
  type Message,
  type RenderFn,
  type Sink,
} from '../../src/sdk/index.js';
import { encodeByteLayout, encodeCayenneLpp } from '../../src/sdk/codecs/index.js';
import { MqttSink } from '../mqtt/sink.js';
import type { MqttSinkConfig } from '../mqtt/spec.js';
import { commandUuid, encodeDownlinkCommand, type CommandBody } from './protobuf.js';
import type { ChirpstackDownlinkConfig } from './spec.js';

/** No LoRaWAN region and data rate carries a larger application payload. */
const MAX_FRAME_BYTES = 242;
const TOPIC_META = 'chirpstack.commandTopic';
/**
 * ChirpStack's Protobuf decoder (prost) stops at 100 nested messages, and an `object` level costs
 * two (Struct and Value); its JSON decoder (serde_json) at 128 levels. Deeper is refused here, with
 * the reason, rather than dropped by ChirpStack after the broker acknowledged it.
 */
const MAX_OBJECT_DEPTH = 40;

/** True when `value` has objects or lists nested deeper than `limit`; stops looking past it. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  let level: unknown[] = [value];
  for (let depth = 0; level.length > 0; depth++) {
    if (depth > limit) return true;
    const next: unknown[] = [];
    for (const v of level)
      if (v !== null && typeof v === 'object')
        for (const child of Object.values(v as Record<string, unknown>)) next.push(child);
    level = next;
  }
  return false;
}
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function mqttSinkConfigFor(config: ChirpstackDownlinkConfig): MqttSinkConfig {
  return {
    url: config.url,
    clientId: config.clientId,
    protocolVersion: config.protocolVersion,
    username: config.username,
    password: config.password,
    tls: config.tls,
    keepalive: config.keepalive,
    connectTimeout: config.connectTimeout,
    reconnectDelay: config.reconnectDelay,
    reconnectMaxDelay: config.reconnectMaxDelay,
    topic: `{{ meta.${TOPIC_META} }}`,
    topicValues: 'reject',
    missingValues: 'reject',
    qos: config.qos,
    retain: false,
    payload: 'json',
    maxUnacked: config.maxUnacked,
    writeTimeout: config.writeTimeout,
  };
}

const asTemplate = (value: string | number | boolean): RenderFn =>
  typeof value === 'string' ? compileTemplate(value, { strict: true }) : () => String(value);

/**
 * Turns each message into a ChirpStack downlink command and publishes it with the MQTT sink (its
 * connection, acknowledgement and retry behaviour). A message that can not become a command
 * (no DevEUI, a bad fPort, a payload the encoder refuses) fails alone, with a FatalError.
 */
export class ChirpstackDownlinkSink implements Sink {
  private readonly mqtt: MqttSink;
  private readonly applicationId: RenderFn;
  private readonly devEui: RenderFn;
  private readonly fPort: RenderFn;
  private readonly confirmed: RenderFn;
  private readonly content: (m: Message) => unknown;
  private readonly commandId: RenderFn | undefined;
  private readonly expiresAt: RenderFn | undefined;
  /** What the default command id is derived from besides the message id: two sinks never share one. */
  private readonly idScope: string;

  constructor(
    private readonly config: ChirpstackDownlinkConfig,
    ctx: ComponentContext,
  ) {
    // The command topic is whole and checked here (applicationId, devEui): it is used as it is.
    this.mqtt = new MqttSink(mqttSinkConfigFor(config), ctx, {
      topicOf: (m) => String(m.meta[TOPIC_META]),
    });
    this.applicationId = asTemplate(config.applicationId);
    this.devEui = asTemplate(config.devEui);
    this.fPort = asTemplate(config.fPort);
    this.confirmed = asTemplate(config.confirmed);
    const getter = compileGetter(config.from);
    this.content = (m) => getter(m);
    this.commandId = config.commandId === undefined ? undefined : asTemplate(config.commandId);
    this.expiresAt = config.expiresAt === undefined ? undefined : asTemplate(config.expiresAt);
    this.idScope = `${ctx.pipeline}\n${ctx.component}\n`;
  }

  connect(signal: AbortSignal): Promise<void> {
    return this.mqtt.connect(signal);
  }

  close(): Promise<void> {
    return this.mqtt.close();
  }

  async write(batch: Message[], signal: AbortSignal): Promise<void> {
    const failures: BatchFailure[] = [];
    const commands: Message[] = [];
    const origin: number[] = [];
    batch.forEach((message, index) => {
      try {
        commands.push(this.command(message));
        origin.push(index);
      } catch (error) {
        failures.push({
          index,
          error: error instanceof FatalError ? error : new FatalError(errorMessage(error)),
        });
      }
    });
    if (commands.length > 0) {
      try {
        await this.mqtt.write(commands, signal);
      } catch (error) {
        if (!(error instanceof BatchError)) throw error;
        for (const f of error.failures) failures.push({ index: origin[f.index] as number, error: f.error });
      }
    }
    if (failures.length > 0) throw new BatchError(failures.sort((a, b) => a.index - b.index));
  }

  /** The command message for one input message; throws a readable error when it can not be built. */
  command(message: Message): Message {
    const devEui = this.devEui(message).toLowerCase();
    if (!/^[0-9a-f]{16}$/.test(devEui))
      throw new FatalError(
        `devEui "${devEui}" (from ${String(this.config.devEui)}) is not 16 hex characters`,
      );
    const applicationId = this.applicationId(message);
    if (applicationId === '' || /[/+#]/.test(applicationId))
      throw new FatalError(`applicationId "${applicationId}" is empty or contains /, + or #`);
    const fPortText = this.fPort(message);
    const fPort = Number(fPortText);
    if (!Number.isInteger(fPort) || fPort < 1 || fPort > 223)
      throw new FatalError(`fPort "${fPortText}" is not an integer 1..223`);
    const confirmedText = this.confirmed(message);
    if (confirmedText !== 'true' && confirmedText !== 'false')
      throw new FatalError(`confirmed "${confirmedText}" is not true or false`);
    const v4 = this.config.chirpstackVersion === 'v4';
    const body: Record<string, unknown> = v4
      ? { id: this.idOf(message), devEui, confirmed: confirmedText === 'true', fPort }
      : { confirmed: confirmedText === 'true', fPort };
    const content = this.content(message);
    if (this.config.encoder.type === 'chirpstack') {
      if (
        content === null ||
        typeof content !== 'object' ||
        Array.isArray(content) ||
        content instanceof Uint8Array
      )
        throw new FatalError(`encoder chirpstack needs an object at ${this.config.from}`);
      if (nestedDeeperThan(content, MAX_OBJECT_DEPTH))
        throw new FatalError(
          `encoder chirpstack: the object nests more than ${MAX_OBJECT_DEPTH} levels deep; ChirpStack would refuse the command`,
        );
      body.object = content;
    } else {
      const frame = this.encode(content);
      if (frame.length > MAX_FRAME_BYTES)
        throw new FatalError(
          `downlink of ${frame.length} bytes: no LoRaWAN data rate carries more than ${MAX_FRAME_BYTES}`,
        );
      body.data = frame.toString('base64');
    }
    const expiresAt = v4 ? this.expiryOf(message) : undefined;
    if (expiresAt !== undefined) body.expiresAt = expiresAt;
    const topic = this.config.topic
      .split('/')
      .map((l) => (l === '{applicationId}' ? applicationId : l === '{devEui}' ? devEui : l))
      .join('/');
    return {
      id: message.id,
      payload: this.protobuf(message) ? encodeDownlinkCommand(body as unknown as CommandBody) : body,
      meta: { ...message.meta, [TOPIC_META]: topic },
      time: message.time,
    };
  }

  /** ChirpStack's binary encoding for this message? `auto` answers a Protobuf uplink in Protobuf. */
  private protobuf(message: Message): boolean {
    if (this.config.chirpstackVersion === 'v3') return false;
    if (this.config.encoding === 'auto') return message.meta['chirpstack.format'] === 'v4-protobuf';
    return this.config.encoding === 'protobuf';
  }

  /**
   * The command id: the same for every attempt at the same message (the outbox keeps the message
   * id across retries and restarts), so ChirpStack refuses a retried command as a duplicate.
   */
  private idOf(message: Message): string {
    if (!this.commandId) return commandUuid(this.idScope + message.id);
    const name = this.commandId(message);
    if (name === '') throw new FatalError(`commandId (from ${String(this.config.commandId)}) is empty`);
    return commandUuid(name);
  }

  /** expiresAt as RFC 3339 UTC, from expiresAfter (message time + it) or the expiresAt template. */
  private expiryOf(message: Message): string | undefined {
    let ms: number;
    if (this.config.expiresAfter !== undefined) ms = message.time + this.config.expiresAfter;
    else if (this.expiresAt) {
      const text = this.expiresAt(message).trim();
      ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
      if (!Number.isFinite(ms) || ms <= 0 || ms > 8.64e15)
        throw new FatalError(
          `expiresAt "${text}" (from ${String(this.config.expiresAt)}) is not an ISO 8601 time or Unix milliseconds`,
        );
    } else return undefined;
    return new Date(ms).toISOString();
  }

  private encode(content: unknown): Buffer {
    const encoder = this.config.encoder;
    const where = this.config.from;
    switch (encoder.type) {
      case 'bytes':
        if (!(content instanceof Uint8Array))
          throw new FatalError(
            `encoder bytes needs bytes at ${where}; for a hex or base64 string use encoder hex or base64`,
          );
        return Buffer.from(content.buffer, content.byteOffset, content.byteLength);
      case 'hex':
        if (typeof content !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(content))
          throw new FatalError(`encoder hex needs a string of hex digit pairs at ${where}`);
        return Buffer.from(content, 'hex');
      case 'base64':
        if (typeof content !== 'string') throw new FatalError(`encoder base64 needs a string at ${where}`);
        // Strict: Buffer.from() would skip bad characters and send a different frame.
        if (!BASE64.test(content)) throw new FatalError(`encoder base64: ${where} is not valid base64`);
        return Buffer.from(content, 'base64');
      case 'cayenne-lpp':
        return encodeCayenneLpp(content as never);
      case 'byte-layout':
        return encodeByteLayout(encoder.layout, content as Record<string, unknown>);
      case 'chirpstack':
        throw new FatalError('encoder chirpstack sends an object, not a frame');
    }
  }
}
