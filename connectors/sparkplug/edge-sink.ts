import type { IClientOptions } from 'mqtt';
import {
  BatchError,
  FatalError,
  NotConnectedError,
  SerialQueue,
  backoffDelay,
  errorMessage,
  sleep,
  type BatchFailure,
  type ComponentContext,
  type ComponentCounter,
  type Message,
  type Sink,
} from '../../src/sdk/index.js';
import { LeasedWriter } from '../../src/sdk/leased-writer.js';
import { MqttConnection } from '../mqtt/connection.js';
import { decodePayload, encodePayload } from './payload.js';
import { parseStatePayload, stateTopic } from './topic.js';
import { EdgeSession, REBIRTH_METRIC, type Publication } from './edge-session.js';
import { MetricReader } from './edge-metric.js';
import type { SparkplugSinkConfig } from './edge-spec.js';

/** NCMD payloads larger than this are not decoded (a Rebirth request is a few bytes). */
const MAX_NCMD_BYTES = 64 * 1024;
/** MQTT 5 DISCONNECT reason code "Disconnect with Will Message". */
const DISCONNECT_WITH_WILL = 0x04;

export function defaultEdgeClientId(config: Pick<SparkplugSinkConfig, 'groupId' | 'edgeNodeId'>): string {
  return `passerelle-${config.groupId}-${config.edgeNodeId}`;
}

/**
 * passerelle as a Sparkplug B edge node. Every publish of a session goes out from one
 * synchronous step (a batch, a birth sequence), so births, data and rebirths never interleave and
 * seq numbers reach the broker in order. A batch counts as written once the broker answered an
 * UNSUBSCRIBE sent after its publishes: the broker handles a client's packets in order, so it
 * has then taken every QoS 0 publish of the batch.
 */
export class SparkplugSink implements Sink {
  private readonly session: EdgeSession;
  private readonly reader: MetricReader;
  private conn: MqttConnection | undefined;
  /** Serialises write() calls: publishes of one edge node keep their order. */
  private readonly writes = new SerialQueue();
  private hostTimestamp = -Infinity;
  private started = false;
  private connectSent = false;
  /**
   * With Redis: only the replica holding its lease is the edge node (src/sdk/leased-writer.ts, as
   * the Excel sink's folder). No fencing token at the target: the broker itself throws off an
   * older session with the same client id.
   */
  private readonly leased: LeasedWriter | undefined;
  /** Whether this sink holds the lease since connect() (the engine retries connect() on failure). */
  private leaseHeld = false;
  /** Aborted by close(): a session opened again after a lost lease stops opening. */
  private closing = new AbortController();
  private readonly births: ComponentCounter;
  private readonly rebirthRequests: ComponentCounter;
  private readonly badInput: ComponentCounter;
  private readonly ncmdTopic: string;
  private readonly stateTopic: string | undefined;
  private readonly barrierTopic: string;

  constructor(
    private readonly config: SparkplugSinkConfig,
    private readonly ctx: ComponentContext,
    options: { leaseTtlMs?: number } = {},
  ) {
    const now = Date.now();
    this.session = new EdgeSession({
      groupId: config.groupId,
      edgeNodeId: config.edgeNodeId,
      aliases: config.aliases,
      maxMetricsPerMessage: config.maxMetricsPerMessage,
      declared: config.metrics.map((m) => ({
        device: m.device,
        name: m.name,
        type: m.dataType,
        value: m.value ?? null,
        timestamp: now,
      })),
    });
    this.reader = new MetricReader(config, this.session);
    this.ncmdTopic = this.session.topic('NCMD');
    this.stateTopic = config.primaryHostId ? stateTopic(config.primaryHostId) : undefined;
    // Never subscribed: only its UNSUBACK matters (see the class comment).
    this.barrierTopic = `passerelle/sparkplug-barrier/${config.groupId}/${config.edgeNodeId}`;
    this.births = ctx.metrics.counter(
      'passerelle_sparkplug_edge_births_total',
      'Birth sequences (NBIRTH and DBIRTHs) published by a Sparkplug edge node, by cause: connect, rebirth (NCMD Rebirth), new-metric.',
      ['cause'],
    );
    this.rebirthRequests = ctx.metrics.counter(
      'passerelle_sparkplug_edge_rebirth_requests_total',
      'NCMD Node Control/Rebirth requests received by a Sparkplug edge node.',
    );
    this.badInput = ctx.metrics.counter(
      'passerelle_sparkplug_edge_bad_input_total',
      'NCMD or STATE messages a Sparkplug edge node could not read, by kind.',
      ['kind'],
    );
    const edgeNode = `${config.groupId}/${config.edgeNodeId}`;
    this.leased = ctx.redisUrl
      ? new LeasedWriter({
          redisUrl: ctx.redisUrl,
          key: `passerelle:lease:sparkplug-edge:${edgeNode}`,
          owner: ctx.leaseOwner,
          ...(options.leaseTtlMs ? { ttlMs: options.leaseTtlMs } : {}),
          logger: ctx.logger,
          component: 'sparkplug sink',
          target: `the edge node ${edgeNode}`,
          setState: (state, error) => ctx.setState(state, error),
          hooks: {
            standBy: (reason) => this.standBy(reason),
            recover: () => this.reopen(),
            failed: (error) => {
              const err = error instanceof Error ? error : new Error(String(error));
              ctx.logger.error(
                { err: errorMessage(err) },
                'Sparkplug edge node: could not take the edge node back',
              );
              ctx.setState('reconnecting', err);
            },
          },
        })
      : undefined;
  }

  /** The bdSeq of the current connection (for tests and status). */
  get bdSeq(): number {
    return this.session.bdSeq;
  }

  async connect(signal: AbortSignal): Promise<void> {
    const previous = this.conn;
    this.conn = undefined;
    if (previous) await previous.end(true);
    if (this.closing.signal.aborted) this.closing = new AbortController();
    if (this.leased && !this.leaseHeld) {
      // One edge node id, one MQTT session: other replicas wait (standby) and take over.
      await this.leased.acquire(signal);
      this.leaseHeld = true;
    }
    await this.openSession(signal);
    // From now on a lost lease ends the session, stands by and takes the edge node back (standBy).
    this.leased?.serve();
  }

  /** The MQTT session of the edge node: a new bdSeq, the Will, births on every CONNACK. */
  private async openSession(signal: AbortSignal): Promise<void> {
    this.nextConnect();
    const options: IClientOptions = {
      clean: true,
      clientId: this.config.clientId ?? defaultEdgeClientId(this.config),
      will: this.will(),
    };
    const conn = new MqttConnection(this.config, this.ctx, options);
    const client = conn.client;
    // mqtt.js builds each CONNECT from its options after this event: every new CONNECT gets the
    // next bdSeq in its Will (tck-id-topics-nbirth-bdseq-increment).
    client.on('reconnect', () => {
      this.nextConnect();
      client.options.will = this.will();
    });
    client.on('packetsend', (packet) => {
      if (packet.cmd !== 'connect') return;
      // mqtt.js writes CONNECT into a socket that may still be connecting: it only reaches a
      // broker once the socket is connected.
      const stream = client.stream as { connecting?: boolean; once(event: string, f: () => void): void };
      if (stream.connecting !== true) this.connectSent = true;
      else {
        const sent = (): void => void (this.connectSent = true);
        stream.once('connect', sent);
        stream.once('secureConnect', sent);
      }
    });
    client.on('connect', () => this.onConnect(conn));
    client.on('close', () => this.session.unborn());
    client.on('message', (topic, payload) => this.onMessage(conn, topic, payload));
    this.conn = conn;
    try {
      await conn.open(signal);
    } catch (error) {
      if (this.conn === conn) this.conn = undefined;
      throw error;
    }
  }

  write(batch: Message[], signal: AbortSignal): Promise<void> {
    return this.writes.run(() => this.writeNow(batch, signal));
  }

  async close(): Promise<void> {
    // No more taking the edge node back; a session being opened for it gives up.
    this.leased?.stop();
    this.closing.abort();
    const conn = this.conn;
    this.conn = undefined;
    if (!conn) {
      await this.releaseLease();
      return;
    }
    await Promise.race([this.writes.idle(), new Promise((r) => setTimeout(r, 5000))]);
    if (conn.connected) {
      if (this.config.protocolVersion === 5) {
        // The broker publishes the Will: the NDEATH with this connection's bdSeq.
        await conn.end(false, { reasonCode: DISCONNECT_WITH_WILL });
      } else {
        // MQTT 3.1.1: publish NDEATH before DISCONNECT (tck-id-payloads-ndeath-will-message-publisher-disconnect-mqtt311).
        await this.publishDeath(conn);
        await conn.end();
      }
    } else {
      await conn.end(true);
    }
    this.session.unborn();
    await this.releaseLease();
    this.ctx.setState('stopped');
  }

  private async releaseLease(): Promise<void> {
    this.leaseHeld = false;
    await this.leased?.release();
  }

  /**
   * The lease is lost (another replica holds it): drop the session at once (the broker publishes
   * our NDEATH; the other replica's connection with the same client id would throw this one off
   * anyway). LeasedWriter then waits a lease period so as not to flap, competes again, and opens a
   * new session through `recover` (openSession).
   */
  private async standBy(reason: Error): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    this.ctx.logger.warn(
      { err: reason.message },
      'Sparkplug edge node: lease lost, another replica is the edge node now',
    );
    this.session.unborn();
    await conn?.end(true);
  }

  /**
   * Opens the session again under a lease just taken back, until it connects, the lease is lost
   * again or the sink closes. The engine retries only connect(); a take-back that found the broker
   * down and gave up would leave the edge node dead on every replica (this one holding the lease).
   */
  private async reopen(): Promise<void> {
    const signal = this.closing.signal;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.openSession(signal);
        return;
      } catch (error) {
        // Lost again: LeasedWriter stands by once more (it checks the lease after this).
        if (signal.aborted || this.leased?.lost) return;
        this.ctx.setState('reconnecting', error instanceof Error ? error : new Error(String(error)));
        await sleep(backoffDelay(attempt, this.config.reconnectDelay, this.config.reconnectMaxDelay), signal);
      }
    }
  }

  /**
   * Before a connection attempt: bdSeq + 1 if the previous attempt sent a CONNECT (an attempt
   * that found no broker sent none, and keeps its bdSeq: one step per CONNECT packet).
   */
  private nextConnect(): void {
    if (!this.started || this.connectSent) {
      this.session.startConnection();
      this.started = true;
      this.connectSent = false;
    } else {
      this.session.unborn();
    }
    this.hostTimestamp = -Infinity;
  }

  private will(): NonNullable<IClientOptions['will']> {
    const death = this.session.death();
    return { topic: death.topic, payload: Buffer.from(encodePayload(death.payload)), qos: 1, retain: false };
  }

  private publishDeath(conn: MqttConnection): Promise<void> {
    const death = this.session.death();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      conn.client.publish(
        death.topic,
        Buffer.from(encodePayload(death.payload)),
        { qos: 1, retain: false },
        () => {
          clearTimeout(timer);
          resolve();
        },
      );
    });
  }

  private onConnect(conn: MqttConnection): void {
    if (conn !== this.conn) return;
    const topics = [this.ncmdTopic, ...(this.stateTopic ? [this.stateTopic] : [])];
    // The SUBSCRIBE goes out before NBIRTH: a Rebirth request sent in answer to it is not missed.
    conn.client.subscribe(topics, { qos: 1 }, (error) => {
      if (error && conn === this.conn)
        this.ctx.logger.error(
          { err: errorMessage(error), topics },
          'Sparkplug edge node: subscription failed',
        );
    });
    if (this.stateTopic) {
      this.ctx.setState(
        'connecting',
        new NotConnectedError(
          `waiting for the primary host application ${this.config.primaryHostId} to be online`,
        ),
      );
      return;
    }
    this.publishBirths(conn, 'connect');
  }

  private publishBirths(conn: MqttConnection, cause: string): void {
    try {
      this.publishAll(conn, this.session.births());
    } catch (error) {
      // Values are checked before they enter the session: this is a bug, not bad input. Stay
      // unborn (writes fail and are retried) rather than throw out of an mqtt.js event.
      this.session.unborn();
      this.ctx.logger.error({ err: errorMessage(error) }, 'Sparkplug edge node: could not encode the births');
      this.ctx.setState('reconnecting', error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.births.inc({ cause });
    this.ctx.setState('connected');
  }

  private publishAll(conn: MqttConnection, publications: Publication[]): void {
    for (const p of publications) {
      conn.client.publish(p.topic, Buffer.from(encodePayload(p.payload)), { qos: 0, retain: false });
    }
  }

  private onMessage(conn: MqttConnection, topic: string, payload: Buffer): void {
    if (conn !== this.conn) return;
    if (topic === this.stateTopic) return this.onState(conn, payload);
    if (topic !== this.ncmdTopic) return;
    const decoded = decodePayload(payload, { maxBytes: MAX_NCMD_BYTES, maxMetrics: 1000 });
    if (!decoded.ok) {
      this.badInput.inc({ kind: 'ncmd' });
      this.ctx.logger.warn({ topic, reason: decoded.reason }, 'Sparkplug edge node: unreadable NCMD ignored');
      return;
    }
    const rebirth = decoded.payload.metrics.some((m) => m.name === REBIRTH_METRIC && m.booleanValue === true);
    if (!rebirth) return;
    this.rebirthRequests.inc();
    // A birth sequence is one synchronous step: no data goes out between the request and NBIRTH.
    if (!this.session.born) return; // not online (waiting for the primary host): the birth comes then
    this.publishBirths(conn, 'rebirth');
  }

  /** Sparkplug 3.0 STATE of the primary host: births when it is online, a new session when it goes offline. */
  private onState(conn: MqttConnection, payload: Buffer): void {
    const state = parseStatePayload(payload);
    if ('error' in state) {
      this.badInput.inc({ kind: 'state' });
      this.ctx.logger.warn({ reason: state.error }, 'Sparkplug edge node: unreadable STATE ignored');
      return;
    }
    // An older STATE (a retained one overtaken by a newer) changes nothing (tck-id-...-phid-wait-timestamp).
    if (state.timestamp < this.hostTimestamp) return;
    this.hostTimestamp = state.timestamp;
    if (state.online) {
      if (!this.session.born) this.publishBirths(conn, 'connect');
      return;
    }
    if (!this.session.born) return;
    // The primary host went offline: end this session (the broker sends our NDEATH) and start
    // over, waiting for it again (tck-id-operational-behavior-edge-node-termination-host-offline).
    this.ctx.logger.warn(
      { primaryHostId: this.config.primaryHostId },
      'Sparkplug edge node: the primary host application is offline; reconnecting and waiting for it',
    );
    this.session.unborn();
    conn.client.stream?.destroy();
  }

  private async writeNow(batch: Message[], signal: AbortSignal): Promise<void> {
    const conn = this.conn;
    if (!conn || !conn.connected)
      throw conn ? conn.notConnected() : new NotConnectedError('sparkplug sink: write() before connect()');
    if (!this.session.born)
      throw new NotConnectedError(
        this.config.primaryHostId
          ? `waiting for the primary host application ${this.config.primaryHostId} to be online`
          : 'the edge node has not published its birth yet',
      );
    const failures: BatchFailure[] = [];
    const samples = [];
    // Metrics this batch would add, against maxMetrics.
    const adding = new Set<string>();
    let room = this.config.maxMetrics - this.session.metricCount;
    for (let i = 0; i < batch.length; i++) {
      try {
        const sample = this.reader.read(batch[i]!);
        if (this.session.typeOf(sample.device, sample.name) === undefined) {
          const key = `${sample.device ?? ''}\u0000${sample.name}`;
          if (!adding.has(key)) {
            if (room <= 0)
              throw new Error(
                `metric "${sample.name}"${sample.device ? ` of device ${sample.device}` : ''} would be metric ${this.config.maxMetrics + 1} of the edge node (maxMetrics ${this.config.maxMetrics})`,
              );
            adding.add(key);
            room--;
          }
        }
        samples.push(sample);
      } catch (error) {
        failures.push({ index: i, error: new FatalError(errorMessage(error)) });
      }
    }
    if (samples.length > 0) {
      const before = this.session.metricCount;
      const publications = this.session.data(samples);
      if (this.session.metricCount > before) this.births.inc({ cause: 'new-metric' });
      this.publishAll(conn, publications);
    }
    await this.barrier(conn, signal);
    if (failures.length > 0) throw new BatchError(failures);
  }

  /** Resolves once the broker answered a packet sent after the batch's publishes. */
  private barrier(conn: MqttConnection, signal: AbortSignal): Promise<void> {
    const client = conn.client;
    return conn.untilAnswered(signal, this.config.writeTimeout, 'answer', (answer) =>
      client.unsubscribe(this.barrierTopic, (error) => {
        // mqtt.js fails the callback when the connection closes first; an UNSUBACK (with any
        // reason code) means the broker read everything before it.
        if (error || !client.connected) answer.settle(conn.notConnected());
        else answer.settle();
      }),
    );
  }
}
