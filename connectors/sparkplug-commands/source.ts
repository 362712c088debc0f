import {
  errorMessage,
  type Inbox,
  receptionTime,
  type ComponentContext,
  type ComponentCounter,
  type Delivery,
  type Message,
  type Source,
} from '../../src/sdk/index.js';
import { MqttConnection } from '../mqtt/connection.js';
import { MqttSourceLink, subscribeOrFail } from '../mqtt/source-link.js';
import { decodeMetric, longToBigInt, type ProtoMetric } from '../sparkplug/datatypes.js';
import { decodePayload, encodePayload } from '../sparkplug/payload.js';
import { parseTopic } from '../sparkplug/topic.js';
import { REBIRTH_METRIC } from '../sparkplug/edge-session.js';
import type { SparkplugCommandsConfig } from './spec.js';

interface Known {
  name: string;
  datatype: number;
}

/** The metrics of the edge node and each device, by alias and by name, as its births announced them. */
class BirthIndex {
  private readonly byAlias = new Map<string, Known>();
  private readonly byName = new Map<string, Known>();

  /** An NBIRTH starts a new session: every alias may change. */
  reset(): void {
    this.byAlias.clear();
    this.byName.clear();
  }

  learn(device: string | undefined, metrics: ProtoMetric[]): void {
    const prefix = device === undefined ? '' : `${device}\u0000`;
    if (device !== undefined)
      for (const key of [...this.byName.keys()]) if (key.startsWith(prefix)) this.byName.delete(key);
    for (const m of metrics) {
      if (typeof m.name !== 'string' || m.datatype === undefined) continue;
      const known = { name: m.name, datatype: m.datatype };
      this.byName.set(prefix + m.name, known);
      if (m.alias !== undefined && m.alias !== null)
        this.byAlias.set(longToBigInt(m.alias).toString(), known);
    }
  }

  resolve(device: string | undefined, m: ProtoMetric): Known | undefined {
    if (typeof m.name === 'string' && m.name !== '') {
      const known = this.byName.get((device === undefined ? '' : `${device}\u0000`) + m.name);
      return { name: m.name, datatype: m.datatype ?? known?.datatype ?? 0 };
    }
    if (m.alias === undefined || m.alias === null) return undefined;
    return this.byAlias.get(longToBigInt(m.alias).toString());
  }
}

/** `*` matches any characters; everything else literally. */
function globToRegExp(glob: string): RegExp {
  const escaped = glob.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`, 's');
}

/**
 * The commands that host applications send to passerelle's edge node (NCMD, DCMD), one message
 * per written metric. It reads the edge node's own births too, to resolve the aliases that
 * Sparkplug hosts use in commands.
 */
export class SparkplugCommandsSource implements Source {
  private readonly link: MqttSourceLink;
  private readonly births = new BirthIndex();
  private readonly writable: { device: string | undefined; metric: RegExp }[];
  private readonly refused: ComponentCounter;

  constructor(
    private readonly config: SparkplugCommandsConfig,
    private readonly ctx: ComponentContext,
  ) {
    this.link = new MqttSourceLink('sparkplug-commands', ctx);
    this.writable = config.writable.map((w) => ({ device: w.device, metric: globToRegExp(w.metric) }));
    this.refused = ctx.metrics.counter(
      'passerelle_sparkplug_commands_refused_total',
      'Sparkplug NCMD/DCMD metrics not passed to the pipeline, by reason: not-writable, unknown-alias, undecodable.',
      ['reason'],
    );
  }

  private topics(): string[] {
    const base = (type: string): string => `spBv1.0/${this.config.groupId}/${type}/${this.config.edgeNodeId}`;
    return [base('NCMD'), `${base('DCMD')}/+`, base('NBIRTH'), `${base('DBIRTH')}/+`];
  }

  connect(signal: AbortSignal): Promise<void> {
    return this.link.connect(
      signal,
      { capacity: this.config.maxQueuedCommands, batchSize: this.config.batchSize },
      {
        create: (inbox) => {
          const conn = new MqttConnection(this.config, this.ctx, { clean: true });
          conn.client.on('message', (topic, payload) => {
            if (this.link.inbox === inbox) this.receive(topic, payload, inbox);
          });
          return conn;
        },
        // A clean session forgets its subscriptions: subscribe on every connection. Then ask the edge
        // node for a rebirth: its births carry the aliases that hosts use in commands, and this
        // connection may have missed them.
        subscribe: async (client) => {
          await subscribeOrFail(client, this.topics(), 1);
          const request = encodePayload({
            timestamp: Date.now(),
            metrics: [{ name: REBIRTH_METRIC, datatype: 'Boolean', value: true, timestamp: Date.now() }],
          });
          client.publish(this.topics()[0]!, Buffer.from(request), { qos: 0, retain: false });
        },
      },
    );
  }

  /** The inbox bounds commands received and not yet stored (Source.window). */
  get window(): number {
    return this.config.maxQueuedCommands;
  }

  read(signal: AbortSignal): Promise<Delivery | null> {
    return this.link.read(signal);
  }

  close(): Promise<void> {
    return this.link.close();
  }

  private isWritable(device: string | undefined, name: string): boolean {
    return this.writable.some((w) => w.device === device && w.metric.test(name));
  }

  private receive(topic: string, bytes: Buffer, inbox: Inbox): void {
    const parsed = parseTopic(topic);
    if ('error' in parsed || parsed.kind === 'state') return;
    const device = parsed.deviceId;
    const decoded = decodePayload(bytes, { maxBytes: this.config.maxPayloadBytes, maxMetrics: 10_000 });
    const type = parsed.messageType;
    if (type === 'NBIRTH' || type === 'DBIRTH') {
      if (!decoded.ok) return;
      if (type === 'NBIRTH') this.births.reset();
      this.births.learn(device, decoded.payload.metrics);
      return;
    }
    if (type !== 'NCMD' && type !== 'DCMD') return;
    const time = receptionTime();
    const base = { id: `${topic}@${time}`, meta: { 'mqtt.topic': topic }, time };
    if (!decoded.ok) {
      this.refuse(base, bytes, 'undecodable', decoded.reason);
      return;
    }
    const timestamp = decoded.payload.timestamp;
    decoded.payload.metrics.forEach((m, index) => {
      const known = this.births.resolve(device, m);
      if (!known) {
        const alias = m.alias === undefined || m.alias === null ? null : longToBigInt(m.alias).toString();
        this.refuse(
          { ...base, id: `${base.id}#${index}` },
          { alias },
          'unknown-alias',
          `${type} metric ${alias === null ? 'without name or alias' : `with alias ${alias}`} that no birth of this edge node announced`,
        );
        return;
      }
      // Rebirth requests are for the edge node (the sparkplug sink answers them), not for the pipeline.
      if (device === undefined && known.name === REBIRTH_METRIC) return;
      if (!this.isWritable(device, known.name)) {
        this.refuse(
          { ...base, id: `${base.id}#${index}` },
          { metric: known.name, device },
          'not-writable',
          `${type} for metric "${known.name}"${device ? ` of device ${device}` : ''}, which is not in writable`,
        );
        return;
      }
      let converted;
      try {
        converted = decodeMetric(m, known.datatype || undefined);
      } catch (error) {
        this.refuse(
          { ...base, id: `${base.id}#${index}` },
          { metric: known.name, device },
          'undecodable',
          errorMessage(error),
        );
        return;
      }
      // The shape of the `sparkplug` source's messages, so that pipelines read both alike.
      const payload = {
        group: this.config.groupId,
        edgeNode: this.config.edgeNodeId,
        device: device ?? null,
        messageType: type,
        metric: known.name,
        value: converted.value,
        datatype: converted.datatype,
        timestamp: converted.timestamp ?? timestamp ?? null,
      };
      const message: Message = {
        id: `${topic}@${timestamp ?? time}#${index}`,
        payload,
        meta: {
          'mqtt.topic': topic,
          'sparkplug.group': this.config.groupId,
          'sparkplug.edgeNode': this.config.edgeNodeId,
          'sparkplug.device': device ?? null,
          'sparkplug.messageType': type,
          'sparkplug.metric': known.name,
        },
        time,
      };
      if (inbox.full) {
        this.ctx.countDropped(1, 'inbox full (the pipeline is behind)');
        return;
      }
      inbox.push(message);
    });
  }

  private refuse(
    base: { id: string; meta: Record<string, unknown>; time: number },
    payload: unknown,
    reason: string,
    text: string,
  ): void {
    this.refused.inc({ reason });
    this.ctx
      .deadLetter({ ...base, payload }, text)
      .catch((e: unknown) =>
        this.ctx.logger.error({ err: errorMessage(e) }, 'could not store a dead letter'),
      );
  }
}
