import type { IClientPublishOptions, MqttClient } from 'mqtt';
import {
  BatchError,
  FatalError,
  NotConnectedError,
  RetryableError,
  compileTemplate,
  errorMessage,
  type BatchFailure,
  type ComponentContext,
  type Message,
  type RenderFn,
  type Sink,
} from '../../src/sdk/index.js';
import { nudgeAcknowledgements } from './ack-nudge.js';
import { MqttConnection } from './connection.js';
import { encodeMessagePayload } from './payload.js';
import { topicEmptyRule, topicNameProblem, topicValueRule, type MqttSinkConfig } from './spec.js';

/** PUBACK reason codes that will never turn into a success on retry (MQTT 5 §3.4.2.1). */
const PERMANENT_REASON_CODES = new Set([
  0x87 /* not authorized */, 0x90 /* topic name invalid */, 0x95 /* packet too large */,
  0x99 /* payload format invalid */,
]);

export interface MqttSinkOptions {
  /**
   * The topic of each message, instead of the `topic` template: for a sink built on this one that
   * makes (and checks) whole topics itself, such as ChirpStack downlinks.
   */
  topicOf?: (message: Message) => string;
}

export class MqttSink implements Sink {
  private conn: MqttConnection | undefined;
  private readonly topic: RenderFn;
  private readonly userProperties: [string, RenderFn][];
  /** The last topic found valid: most sinks write to one topic, checked once rather than per message. */
  private validTopic: string | undefined;
  /** Publish options shared by every message when there are no per-message properties. */
  private readonly plainOptions: IClientPublishOptions;

  constructor(
    private readonly config: MqttSinkConfig,
    private readonly ctx: ComponentContext,
    options: MqttSinkOptions = {},
  ) {
    this.topic =
      options.topicOf ??
      compileTemplate(config.topic, {
        value: topicValueRule(config.topic, config.topicValues),
        onEmpty: topicEmptyRule(config.topic, config.missingValues),
      });
    this.userProperties = Object.entries(config.userProperties ?? {}).map(([name, t]) => [
      name,
      compileTemplate(t),
    ]);
    this.plainOptions = Object.freeze({ qos: config.qos, retain: config.retain });
  }

  async connect(signal: AbortSignal): Promise<void> {
    const previous = this.conn;
    this.conn = undefined;
    if (previous) await previous.end();
    const conn = new MqttConnection(this.config, this.ctx, { clean: true });
    // mqtt.js keeps unacknowledged publishes and resends them after a reconnect; the batch is
    // retried by the outbox instead, so drop them rather than let them pile up.
    conn.client.on('close', () => dropOutgoing(conn.client));
    nudgeAcknowledgements(conn.client);
    this.conn = conn;
    try {
      await conn.open(signal);
    } catch (error) {
      this.conn = undefined;
      throw error;
    }
  }

  async write(batch: Message[], signal: AbortSignal): Promise<void> {
    const conn = this.conn;
    if (!conn || !conn.connected)
      throw conn ? conn.notConnected() : new NotConnectedError('mqtt sink: write() before connect()');
    const failures: BatchFailure[] = [];
    await this.publishAll(conn, batch, failures, signal);
    if (failures.length > 0) throw new BatchError(failures.sort((a, b) => a.index - b.index));
  }

  async close(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    if (conn) {
      await conn.end();
      this.ctx.setState('stopped');
    }
  }

  /** The topic of a message, checked (throws when it can not be published to). */
  private topicOf(message: Message): string {
    const topic = this.topic(message);
    if (topic !== this.validTopic) {
      const problem = topicNameProblem(topic);
      if (problem) throw new Error(`topic template "${this.config.topic}": ${problem}`);
      this.validTopic = topic;
    }
    return topic;
  }

  /** The publish options of a message: shared ones unless it has MQTT 5 properties. */
  private optionsOf(message: Message): IClientPublishOptions {
    if (
      this.config.protocolVersion !== 5 ||
      (this.userProperties.length === 0 && this.config.messageExpiry === undefined)
    )
      return this.plainOptions;
    const options: IClientPublishOptions = { qos: this.config.qos, retain: this.config.retain };
    const properties: NonNullable<IClientPublishOptions['properties']> = {};
    if (this.userProperties.length > 0) {
      properties.userProperties = Object.fromEntries(
        this.userProperties.map(([name, render]) => [name, render(message)]),
      );
    }
    if (this.config.messageExpiry !== undefined)
      properties.messageExpiryInterval = Math.max(1, Math.round(this.config.messageExpiry / 1000));
    options.properties = properties;
    return options;
  }

  /**
   * Publishes with a bounded window (QoS 1/2: maxUnacked, and the broker's Receive Maximum; QoS 0:
   * what the socket takes). Resolves once every publish is acknowledged (QoS 1/2) or written to the
   * socket (QoS 0). A lost connection rejects the whole write with NotConnectedError: the outbox
   * retries the batch.
   */
  private async publishAll(
    conn: MqttConnection,
    batch: Message[],
    failures: BatchFailure[],
    signal: AbortSignal,
  ): Promise<void> {
    const client = conn.client;
    const window = Math.max(
      1,
      Math.min(this.config.maxUnacked, client.serverProperties?.receiveMaximum ?? Infinity),
    );
    // At QoS 0 mqtt.js calls back as soon as the socket took the packet, synchronously, or on the
    // socket's 'drain' when its buffer is full (one once() listener per publish made then). So at
    // QoS 0 a publish still unanswered means the socket is full: wait for it rather than pile up
    // more packets (and a 'drain' listener each) in the socket's buffer.
    const limit = this.config.qos === 0 ? 1 : window;
    // A publish whose acknowledgement never comes (a connection lost in a way mqtt.js does not
    // report) must not hold the outbox forever: the write timeout retries the batch instead.
    await conn.untilAnswered(signal, this.config.writeTimeout, 'acknowledgement', (answer) => {
      let next = 0;
      let running = 0;
      let pumping = false;
      // Acknowledgements read together make room for publishes one by one: the socket is corked
      // until they are all handled, so those publishes go out in one write (and syscall), not one each.
      let corked: MqttClient['stream'] | undefined;
      const uncork = (): void => {
        corked?.uncork();
        corked = undefined;
      };
      const pump = (): void => {
        // Called back from within client.publish (a QoS 0 packet the socket took at once): the
        // loop below goes on, rather than one more stack level per message.
        if (pumping) return;
        pumping = true;
        while (!answer.settled && running < limit && next < batch.length) {
          const index = next++;
          const message = batch[index]!;
          // Each message is encoded when its turn comes (no array of prepared publishes per batch);
          // one that can not be published fails alone, as a FatalError.
          let topic: string;
          let payload: string | Buffer;
          let options: IClientPublishOptions;
          try {
            topic = this.topicOf(message);
            payload = encodeMessagePayload(message, this.config.payload);
            options = this.optionsOf(message);
          } catch (error) {
            failures.push({ index, error: new FatalError(errorMessage(error)) });
            continue;
          }
          running++;
          client.publish(topic, payload, options, (error) => {
            running--;
            if (answer.settled) return;
            if (error) {
              if (!client.connected) return answer.settle(conn.notConnected());
              failures.push({ index, error: publishError(error) });
            }
            if (!corked && next < batch.length) {
              corked = client.stream;
              corked.cork();
              setImmediate(uncork);
            }
            pump();
          });
        }
        pumping = false;
        if (!answer.settled && running === 0 && next >= batch.length) answer.settle();
      };
      pump();
    });
  }
}

function publishError(error: Error): Error {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number' && PERMANENT_REASON_CODES.has(code))
    return new FatalError(`the broker refused the message: ${error.message}`);
  return new RetryableError(`publish failed: ${error.message}`);
}

function dropOutgoing(client: MqttClient): void {
  for (const id of Object.keys(client.outgoing)) {
    if (client.outgoing[Number(id)]?.cmd === 'publish') client.removeOutgoingMessage(Number(id));
  }
}
