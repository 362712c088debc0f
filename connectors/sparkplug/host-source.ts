import { randomBytes } from 'node:crypto';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import {
  errorMessage,
  type Inbox,
  receptionTime,
  type ComponentContext,
  type ComponentCounter,
  type ComponentGauge,
  type Delivery,
  type Message,
  type Source,
} from '../../src/sdk/index.js';
import { MqttConnection } from '../mqtt/connection.js';
import { releaseWhenRoom } from '../mqtt/keepalive-hold.js';
import { maximumPacketSize } from '../mqtt/source.js';
import { MqttSourceLink, subscribeOrFail } from '../mqtt/source-link.js';
import { HostState, type HostEvent } from './host-state.js';
import type { SparkplugSourceConfig } from './host-spec.js';
import { groupFilter, parseStatePayload, statePayload, stateTopic } from './topic.js';

/**
 * The `sparkplug` source: a Sparkplug B host application on one MQTT connection. Sparkplug
 * hosts use a clean session (Sparkplug 3.0 §5.4: state is rebuilt from births, not kept by the
 * broker), so delivery is best-effort; PUBLISHes are handled one at a time, in order, which the
 * sequence-number check needs. A full inbox stops reading, so TCP backpressure reaches the broker.
 */
export class SparkplugSource implements Source {
  private readonly link: MqttSourceLink;
  private host: HostState;
  private readonly idPrefix = randomBytes(6).toString('hex');
  private n = 0;
  /** Set by close(): our own offline STATE must not be answered with online. */
  private closing = false;
  /** Our STATE birth is out: from then on an offline STATE of ours is answered (§5.3). */
  private announced = false;
  /** The STATE timestamp of the current connection: the same in the birth and in the Will. */
  private stateTimestamp = 0;
  private readonly events: ComponentCounter;
  private readonly online: ComponentGauge;
  /** Per event, for tests and the status page. */
  readonly counts = new Map<HostEvent, number>();

  constructor(
    private readonly config: SparkplugSourceConfig,
    private readonly ctx: ComponentContext,
  ) {
    this.link = new MqttSourceLink('sparkplug', ctx);
    this.host = this.newHost();
    this.events = ctx.metrics.counter(
      'passerelle_sparkplug_host_events_total',
      'Sparkplug host events: births, deaths, data, sequence gaps, data before birth, unknown metrics, rebirth requests, malformed payloads.',
      ['event'],
    );
    this.online = ctx.metrics.gauge(
      'passerelle_sparkplug_edge_nodes_online',
      'Edge nodes whose birth the host has seen and no death since.',
    );
  }

  private newHost(): HostState {
    const c = this.config;
    return new HostState({
      output: c.output,
      maxPayloadBytes: c.maxPayloadBytes,
      maxMetricsPerPayload: c.maxMetricsPerPayload,
      requestRebirth: c.requestRebirth,
      rebirthIntervalMs: c.rebirthInterval,
    });
  }

  connect(signal: AbortSignal): Promise<void> {
    this.closing = false;
    this.announced = false;
    const { config } = this;
    const primary = config.primaryHost;
    return this.link.connect(
      signal,
      { capacity: config.maxQueuedMetrics, batchSize: config.batchSize },
      {
        create: (inbox) => {
          // What was known of the edge nodes is void: births come again after a reconnect (or a rebirth).
          this.host = this.newHost();
          this.stateTimestamp = Date.now();
          const extra: IClientOptions = {
            clean: true,
            properties:
              config.protocolVersion === 5
                ? { sessionExpiryInterval: 0, maximumPacketSize: maximumPacketSize(config.maxPayloadBytes) }
                : undefined,
            ...(primary
              ? {
                  will: {
                    topic: stateTopic(primary.hostId),
                    payload: Buffer.from(statePayload(false, this.stateTimestamp)),
                    qos: 1,
                    retain: true,
                  },
                }
              : {}),
          };
          const conn = new MqttConnection(config, this.ctx, extra);
          const client = conn.client;
          // Installed before connect(): nothing may arrive unseen.
          client.handleMessage = (packet, callback) => this.receive(client, packet, callback, inbox);
          if (primary) {
            client.on('reconnect', () => {
              // A new connection has a new STATE timestamp (Sparkplug 3.0 §7.1.3), in its Will too.
              this.stateTimestamp = Date.now();
              if (client.options.will)
                client.options.will.payload = Buffer.from(statePayload(false, this.stateTimestamp));
            });
          }
          client.on('close', () => {
            if (this.closing) return;
            // Sparkplug 3.0 §5.3: a host that loses the broker marks every metric it knew stale.
            this.announced = false;
            for (const record of this.host.connectionLost(Date.now()))
              inbox.push({ id: `${this.idPrefix}-${++this.n}`, ...record });
            this.online.set(undefined, 0);
          });
          return conn;
        },
        subscribe: (client, _connack, first) => {
          // A clean session lost the subscriptions and every edge node's context.
          if (!first) this.host = this.newHost();
          return this.subscribeAndAnnounce(client);
        },
      },
    );
  }

  /** The inbox bounds metrics received and not yet stored (Source.window). */
  get window(): number {
    return this.config.maxQueuedMetrics;
  }

  read(signal: AbortSignal): Promise<Delivery | null> {
    return this.link.read(signal);
  }

  async close(): Promise<void> {
    const conn = this.link.conn;
    this.closing = true;
    // A clean stop says so: the STATE goes offline at once instead of after the keep-alive.
    if (conn?.connected && this.config.primaryHost)
      await conn.client
        .publishAsync(stateTopic(this.config.primaryHost.hostId), statePayload(false, this.stateTimestamp), {
          qos: 1,
          retain: true,
        })
        .catch(() => undefined);
    await this.link.close();
  }

  /** Subscribes to the groups (and the own STATE), then publishes the STATE birth (Sparkplug 3.0 §7.1.3). */
  private async subscribeAndAnnounce(client: MqttClient): Promise<void> {
    const filters = this.config.groups.map(groupFilter);
    const primary = this.config.primaryHost;
    if (primary) filters.push(stateTopic(primary.hostId));
    await subscribeOrFail(client, filters, this.config.qos);
    if (primary) {
      await this.publishOnline(client);
      this.announced = true;
    }
  }

  private publishOnline(client: MqttClient): Promise<unknown> {
    const hostId = this.config.primaryHost!.hostId;
    return client.publishAsync(stateTopic(hostId), statePayload(true, this.stateTimestamp), {
      qos: 1,
      retain: true,
    });
  }

  private count(event: HostEvent): void {
    this.counts.set(event, (this.counts.get(event) ?? 0) + 1);
    this.events.inc({ event });
  }

  /** One PUBLISH: through the host state, into the inbox, the dead letters, or an NCMD. */
  private receive(client: MqttClient, packet: IPublishPacket, done: () => void, inbox: Inbox): void {
    const bytes = typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : packet.payload;
    const primary = this.config.primaryHost;
    if (primary && packet.topic === stateTopic(primary.hostId)) {
      // Sparkplug 3.0 §5.3 (tck-id-message-flow-hid-sparkplug-state-message-delivered): once our
      // STATE birth is out, an offline STATE on our id (a late Will of an earlier connection, another
      // client) is answered at once with online and this connection's timestamp. The retained
      // offline of an earlier run arrives with the subscription, before our birth replaces it.
      const state = parseStatePayload(bytes);
      if ('online' in state && !state.online && this.announced && client.connected && !this.closing)
        this.publishOnline(client).catch(() => undefined);
      return done();
    }
    const receivedAt = Date.now();
    const out = this.host.handle(packet.topic, bytes, receivedAt);
    for (const event of out.events) this.count(event);
    this.online.set(undefined, this.host.nodesOnline);
    if (out.rebirth) {
      this.ctx.logger.info({ topic: out.rebirth.topic }, 'Sparkplug: requesting a rebirth');
      client.publish(out.rebirth.topic, Buffer.from(out.rebirth.payload), { qos: 0 }, (error) => {
        if (error)
          this.ctx.logger.warn(
            { topic: out.rebirth!.topic, err: errorMessage(error) },
            'Sparkplug: Rebirth request not sent',
          );
      });
    }
    if (out.dropped) {
      this.ctx.countDropped(1, out.dropped);
      this.ctx.logger.debug({ topic: packet.topic, reason: out.dropped }, 'Sparkplug data dropped');
    }
    if (out.deadLetter) {
      const dead: Message = {
        id: `${this.idPrefix}-${++this.n}`,
        payload: bytes,
        meta: { 'mqtt.topic': packet.topic },
        time: receptionTime(),
      };
      this.ctx.deadLetter(dead, out.deadLetter).catch((error: unknown) => {
        this.ctx.logger.error(
          { topic: packet.topic, err: errorMessage(error) },
          'could not store a dead letter',
        );
      });
    }
    for (const record of out.records) {
      inbox.push({
        id: `${this.idPrefix}-${++this.n}`,
        payload: record.payload,
        meta: record.meta,
        time: record.time,
      });
    }
    releaseWhenRoom(inbox, this.link.conn?.client, done);
  }
}
