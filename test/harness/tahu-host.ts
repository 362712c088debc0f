/**
 * An independent Sparkplug B host application for tests: a plain mqtt.js subscriber that decodes
 * with Eclipse Tahu's `sparkplug-payload` (its own encoder and decoder, not passerelle's), keeps
 * the aliases of each edge node from its births, and checks what a host checks (seq order,
 * bdSeq of NDEATH against NBIRTH, data only after birth).
 */
import { createRequire } from 'node:module';
import mqtt, { type MqttClient } from 'mqtt';

interface TahuMetric {
  name?: string;
  alias?: unknown;
  type: string;
  value: unknown;
  timestamp?: unknown;
  properties?: Record<string, { type: string; value: unknown }>;
}
interface TahuPayload {
  timestamp?: unknown;
  seq?: unknown;
  metrics?: TahuMetric[];
}
interface Tahu {
  encodePayload(payload: object): Uint8Array;
  decodePayload(bytes: Uint8Array): TahuPayload;
}

const require = createRequire(import.meta.url);
export const tahu = (require('sparkplug-payload') as { get(ns: string): Tahu }).get('spBv1.0');

/** Long, number or undefined -> number (Tahu returns Longs for 64-bit fields). */
export function num(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  return Number(String(v));
}

export interface Seen {
  topic: string;
  type: string;
  edgeNode: string;
  device?: string;
  qos: number;
  retain: boolean;
  payload: TahuPayload;
  seq?: number;
  /** Metrics with names resolved through the births' aliases. */
  metrics: { name: string; type: string; value: unknown; alias?: number; quality?: number }[];
}

/** The message type of the host's own markers (see `sync()`), never a Sparkplug one. */
const SYNC = 'PASSERELLE_TEST_SYNC';

export class TahuHost {
  readonly seen: Seen[] = [];
  private readonly syncs = new Map<string, () => void>();
  private syncCount = 0;
  readonly problems: string[] = [];
  private readonly aliases = new Map<string, Map<number, { name: string; type: string }>>();
  private lastSeq = new Map<string, number>();
  private born = new Set<string>();
  /** `<edge node>/<device>` born in the current session. */
  private readonly devices = new Set<string>();

  private constructor(
    readonly client: MqttClient,
    readonly groupId: string,
  ) {}

  /**
   * Connects and subscribes to the group. With `primaryHostId` it acts as a primary host: after
   * each (re)connection and subscription it publishes its STATE online (retained), with the
   * offline STATE as its Will, as Sparkplug 3.0 hosts do.
   */
  static async start(
    url: string,
    groupId: string,
    options: { primaryHostId?: string } = {},
  ): Promise<TahuHost> {
    const stateTopic = options.primaryHostId ? `spBv1.0/STATE/${options.primaryHostId}` : undefined;
    let timestamp = Date.now();
    const client = mqtt.connect(url, {
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 200,
      ...(stateTopic
        ? {
            will: {
              topic: stateTopic,
              payload: Buffer.from(JSON.stringify({ online: false, timestamp })),
              qos: 1,
              retain: true,
            },
          }
        : {}),
    });
    const host = new TahuHost(client, groupId);
    client.on('message', (topic, payload, packet) => host.receive(topic, payload, packet.qos, packet.retain));
    client.on('connect', () => {
      client.subscribe(`spBv1.0/${groupId}/#`, { qos: 1 }, () => {
        if (stateTopic)
          client.publish(stateTopic, JSON.stringify({ online: true, timestamp }), { qos: 1, retain: true });
      });
    });
    client.on('reconnect', () => {
      // The Will and the birth of one connection carry the same timestamp.
      timestamp = Date.now();
      if (stateTopic)
        client.options.will = {
          topic: stateTopic,
          payload: Buffer.from(JSON.stringify({ online: false, timestamp })),
          qos: 1,
          retain: true,
        };
    });
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    // Let the SUBACK come back before the test starts publishing.
    await client.subscribeAsync(`spBv1.0/${groupId}/#`, { qos: 1 });
    return host;
  }

  of(type: string, edgeNode?: string): Seen[] {
    return this.seen.filter((s) => s.type === type && (edgeNode === undefined || s.edgeNode === edgeNode));
  }

  /** Values of one metric, in arrival order, from births and data. */
  values(edgeNode: string, device: string | undefined, name: string): unknown[] {
    return this.seen
      .filter((s) => s.edgeNode === edgeNode && s.device === device && /BIRTH|DATA/.test(s.type))
      .flatMap((s) => s.metrics.filter((m) => m.name === name).map((m) => m.value));
  }

  bdSeqOf(s: Seen): number | undefined {
    return num(s.payload.metrics?.find((m) => m.name === 'bdSeq')?.value);
  }

  /** Sends NCMD or DCMD to an edge node, encoded by Tahu, at QoS 0 (tck-id-payloads-ncmd-qos, -dcmd-qos). */
  async command(edgeNode: string, device: string | undefined, metrics: TahuMetric[]): Promise<void> {
    const type = device === undefined ? 'NCMD' : 'DCMD';
    const topic = `spBv1.0/${this.groupId}/${type}/${edgeNode}${device === undefined ? '' : `/${device}`}`;
    await this.client.publishAsync(
      topic,
      Buffer.from(tahu.encodePayload({ timestamp: Date.now(), metrics })),
      {
        qos: 0,
      },
    );
  }

  rebirth(edgeNode: string): Promise<void> {
    return this.command(edgeNode, undefined, [
      { name: 'Node Control/Rebirth', type: 'Boolean', value: true },
    ]);
  }

  /**
   * Resolves once a marker this host publishes now has come back to it. The broker sends a
   * subscriber messages in the order it routed them: by then the host has everything routed
   * before (what an edge node published earlier, the Will of a connection that ended).
   */
  async sync(): Promise<void> {
    const token = `m${++this.syncCount}`;
    const back = new Promise<void>((resolve) => this.syncs.set(token, resolve));
    await this.client.publishAsync(`spBv1.0/${this.groupId}/${SYNC}/${token}`, '', { qos: 1 });
    await back;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }

  private receive(topic: string, bytes: Buffer, qos: number, retain: boolean): void {
    const [, , type, edgeNode, device] = topic.split('/') as [string, string, string, string, string?];
    if (type === SYNC) {
      this.syncs.get(edgeNode)?.();
      this.syncs.delete(edgeNode);
      return;
    }
    if (!edgeNode || type === 'STATE') return;
    let payload: TahuPayload;
    try {
      payload = tahu.decodePayload(bytes);
    } catch (error) {
      // Commands come from other clients (tests send bad ones on purpose): only the edge node's own messages count.
      if (type !== 'NCMD' && type !== 'DCMD')
        this.problems.push(`${topic}: Tahu could not decode: ${(error as Error).message}`);
      return;
    }
    const seq = num(payload.seq);
    let aliases = this.aliases.get(edgeNode);
    if (type === 'NBIRTH' || !aliases) this.aliases.set(edgeNode, (aliases = new Map()));
    const metrics = (payload.metrics ?? []).map((m) => {
      const alias = num(m.alias);
      let name = m.name;
      if ((type === 'NBIRTH' || type === 'DBIRTH') && name !== undefined && alias !== undefined)
        aliases.set(alias, { name, type: m.type });
      if (name === undefined && alias !== undefined) name = aliases.get(alias)?.name;
      if (name === undefined) this.problems.push(`${topic}: metric with unknown alias ${alias}`);
      return {
        name: name ?? `?${alias}`,
        type: m.type,
        value: m.value,
        alias,
        quality: num(m.properties?.Quality?.value),
      };
    });
    if (type !== 'NCMD' && type !== 'DCMD') this.check(topic, type, edgeNode, device, seq, metrics.length);
    this.seen.push({ topic, type, edgeNode, device, qos, retain, payload, seq, metrics });
  }

  private check(
    topic: string,
    type: string,
    edgeNode: string,
    device: string | undefined,
    seq: number | undefined,
    n: number,
  ): void {
    if (type === 'NDEATH') {
      if (seq !== undefined) this.problems.push(`${topic}: NDEATH with a seq`);
      this.born.delete(edgeNode);
      this.lastSeq.delete(edgeNode);
      return;
    }
    if (seq === undefined || seq < 0 || seq > 255) {
      this.problems.push(`${topic}: seq ${seq} is not in 0-255`);
      return;
    }
    if (type === 'NBIRTH') {
      if (seq !== 0) this.problems.push(`${topic}: NBIRTH seq ${seq}`);
      this.born.add(edgeNode);
      // A new session: every device must be born again.
      for (const d of [...this.devices]) if (d.startsWith(`${edgeNode}/`)) this.devices.delete(d);
    } else {
      const last = this.lastSeq.get(edgeNode);
      if (last === undefined) this.problems.push(`${topic}: ${type} before NBIRTH`);
      else if (seq !== (last + 1) % 256) this.problems.push(`${topic}: seq ${seq} after ${last}`);
      if ((type === 'DDATA' || type === 'NDATA') && n === 0)
        this.problems.push(`${topic}: data without metrics`);
      if (type === 'DBIRTH') this.devices.add(`${edgeNode}/${device}`);
      if (type === 'DDEATH') this.devices.delete(`${edgeNode}/${device}`);
      if (type === 'DDATA' && !this.devices.has(`${edgeNode}/${device}`))
        this.problems.push(`${topic}: DDATA before its DBIRTH`);
    }
    this.lastSeq.set(edgeNode, seq);
  }
}
