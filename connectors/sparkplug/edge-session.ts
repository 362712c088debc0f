import type { EdgeDataType } from './edge-spec.js';

/**
 * The state of one Sparkplug B edge node, without MQTT or Protobuf: which metrics exist, their
 * aliases and current values, the bdSeq of the connection and the seq of the next message. The sink
 * asks it what to publish (births, data, deaths) and publishes exactly that, in that order.
 */

export const NAMESPACE = 'spBv1.0';
export const REBIRTH_METRIC = 'Node Control/Rebirth';
export const BDSEQ_METRIC = 'bdSeq';

/**
 * A metric value in passerelle form, as the payload encoder (datatypes.ts) takes it: numbers,
 * Int64/UInt64 as decimal strings, Bytes as bytes or base64, arrays; null for is_null.
 */
export type SpValue = unknown;

export type Quality = 'good' | 'uncertain' | 'bad';

/**
 * Quality as Sparkplug hosts read it: a metric property `Quality` (Int32) with the OPC DA codes
 * that Ignition and Cirrus Link's modules use (192 good, 64 uncertain, 0 bad). Sparkplug itself
 * defines no quality field.
 */
export const QUALITY_CODES: Record<Quality, number> = { good: 192, uncertain: 64, bad: 0 };

export interface SpPropertyValue {
  type: 'Int32';
  value: number;
}

/** A metric as the payload encoder (payload.ts, `MetricInput`) takes it. */
export interface SpMetric {
  name?: string;
  alias?: number;
  timestamp: number;
  datatype: EdgeDataType;
  value: SpValue;
  properties?: Record<string, SpPropertyValue>;
}

export interface SpPayload {
  timestamp: number;
  seq?: number;
  metrics: SpMetric[];
}

export type EdgeMessageType = 'NBIRTH' | 'DBIRTH' | 'NDATA' | 'DDATA' | 'NDEATH' | 'DDEATH';

export interface Publication {
  type: EdgeMessageType;
  topic: string;
  device?: string;
  payload: SpPayload;
}

/** One value for one metric, already converted to the metric's datatype. */
export interface MetricSample {
  device?: string;
  name: string;
  type: EdgeDataType;
  value: SpValue;
  timestamp: number;
  quality?: Quality;
}

interface MetricState {
  name: string;
  alias: number;
  type: EdgeDataType;
  value: SpValue;
  timestamp: number;
  quality?: Quality;
}

interface Group {
  /** undefined for the edge node's own metrics. */
  device: string | undefined;
  metrics: Map<string, MetricState>;
  born: boolean;
}

export interface EdgeSessionOptions {
  groupId: string;
  edgeNodeId: string;
  aliases: boolean;
  maxMetricsPerMessage: number;
  /** Metrics announced before any value comes (value null unless given). */
  declared?: MetricSample[];
  /** bdSeq of the first connection (0 unless restored). */
  firstBdSeq?: number;
  now?: () => number;
}

export class EdgeSession {
  private readonly node: Group = { device: undefined, metrics: new Map(), born: false };
  private readonly devices = new Map<string, Group>();
  private nextAlias = 1;
  private seq = 0;
  private connections = 0;
  private bdSeqValue: number;
  private readonly now: () => number;

  constructor(private readonly options: EdgeSessionOptions) {
    this.bdSeqValue = (options.firstBdSeq ?? 0) & 255;
    this.now = options.now ?? Date.now;
    for (const sample of options.declared ?? []) this.register(this.groupOf(sample.device), sample);
  }

  /** The bdSeq of the current (or next) MQTT connection. */
  get bdSeq(): number {
    return this.bdSeqValue;
  }

  /** True once NBIRTH was published in this connection (and no rebirth is under way). */
  get born(): boolean {
    return this.node.born;
  }

  /** The datatype a metric was born with, if it exists. */
  typeOf(device: string | undefined, name: string): EdgeDataType | undefined {
    const group = device === undefined ? this.node : this.devices.get(device);
    return group?.metrics.get(name)?.type;
  }

  get metricCount(): number {
    let n = this.node.metrics.size;
    for (const d of this.devices.values()) n += d.metrics.size;
    return n;
  }

  /**
   * A new MQTT CONNECT: bdSeq goes up by one (0 after 255) except for the very first, and
   * nothing is born any more. Returns the bdSeq to put in the Will (NDEATH).
   */
  startConnection(): number {
    if (this.connections++ > 0) this.bdSeqValue = (this.bdSeqValue + 1) & 255;
    this.unborn();
    return this.bdSeqValue;
  }

  /** The connection is gone: data waits for the next birth. */
  unborn(): void {
    this.node.born = false;
    for (const d of this.devices.values()) d.born = false;
  }

  /** NDEATH: only the bdSeq metric, no seq (tck-id-topics-ndeath-payload, -seq). */
  death(): Publication {
    const timestamp = this.now();
    return {
      type: 'NDEATH',
      topic: this.topic('NDEATH'),
      payload: {
        timestamp,
        metrics: [{ name: BDSEQ_METRIC, datatype: 'Int64', value: this.bdSeqValue, timestamp }],
      },
    };
  }

  /**
   * The full birth sequence: NBIRTH (seq 0, bdSeq of this connection, Node Control/Rebirth false,
   * every node metric) and one DBIRTH per device. Used on connect and on a Rebirth request.
   */
  births(): Publication[] {
    this.seq = 0;
    const timestamp = this.now();
    const metrics: SpMetric[] = [
      { name: BDSEQ_METRIC, datatype: 'Int64', value: this.bdSeqValue, timestamp },
      // No alias for Rebirth (tck-id-operational-behavior-data-commands-rebirth-name-aliases).
      { name: REBIRTH_METRIC, datatype: 'Boolean', value: false, timestamp },
      ...[...this.node.metrics.values()].map((m) => this.birthMetric(m)),
    ];
    const out: Publication[] = [
      { type: 'NBIRTH', topic: this.topic('NBIRTH'), payload: { timestamp, seq: this.nextSeq(), metrics } },
    ];
    this.node.born = true;
    for (const device of this.devices.values()) {
      device.born = false;
      if (device.metrics.size > 0) out.push(this.deviceBirth(device));
    }
    return out;
  }

  /**
   * What to publish for a batch of samples, in order. A metric not in the births yet is added
   * first: a new device gets its DBIRTH, a device already born gets DDEATH and a new DBIRTH, a new
   * edge node metric a whole new birth sequence (Sparkplug requires every metric of a session in
   * its birth). The first value of a new metric goes in that birth; every other value goes in
   * NDATA/DDATA, in the order of the samples.
   */
  data(samples: MetricSample[]): Publication[] {
    if (!this.node.born) throw new Error('data before NBIRTH');
    const consumed = new Set<MetricSample>();
    let nodeRebirth = false;
    const deviceRebirth = new Set<Group>();
    for (const sample of samples) {
      const group = this.groupOf(sample.device);
      if (group.metrics.has(sample.name)) continue;
      this.register(group, sample);
      consumed.add(sample);
      if (group === this.node) nodeRebirth = true;
      else if (group.born) deviceRebirth.add(group);
    }
    const out: Publication[] = [];
    if (nodeRebirth) out.push(...this.births());
    else {
      for (const device of deviceRebirth) {
        out.push(this.deviceDeath(device));
        out.push(this.deviceBirth(device));
      }
      for (const device of this.devices.values())
        if (!device.born && device.metrics.size > 0) out.push(this.deviceBirth(device));
    }
    // One NDATA/DDATA per group (split past maxMetricsPerMessage), groups in order of first appearance.
    const pending = new Map<Group, SpMetric[]>();
    for (const sample of samples) {
      if (consumed.has(sample)) continue;
      const group = this.groupOf(sample.device);
      const state = group.metrics.get(sample.name)!;
      state.value = sample.value;
      state.timestamp = sample.timestamp;
      state.quality = sample.quality;
      let list = pending.get(group);
      if (!list) pending.set(group, (list = []));
      list.push(this.dataMetric(state));
    }
    for (const [group, metrics] of pending) {
      for (let i = 0; i < metrics.length; i += this.options.maxMetricsPerMessage) {
        const chunk = metrics.slice(i, i + this.options.maxMetricsPerMessage);
        const type = group.device === undefined ? 'NDATA' : 'DDATA';
        out.push({
          type,
          topic: this.topic(type, group.device),
          device: group.device,
          payload: { timestamp: this.now(), seq: this.nextSeq(), metrics: chunk },
        });
      }
    }
    return out;
  }

  /** The topic of a message type of this edge node. */
  topic(type: string, device?: string): string {
    const base = `${NAMESPACE}/${this.options.groupId}/${type}/${this.options.edgeNodeId}`;
    return device === undefined ? base : `${base}/${device}`;
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) & 255;
    return s;
  }

  private groupOf(device: string | undefined): Group {
    if (device === undefined) return this.node;
    let group = this.devices.get(device);
    if (!group) this.devices.set(device, (group = { device, metrics: new Map(), born: false }));
    return group;
  }

  private register(group: Group, sample: MetricSample): void {
    group.metrics.set(sample.name, {
      name: sample.name,
      alias: this.nextAlias++,
      type: sample.type,
      value: sample.value,
      timestamp: sample.timestamp,
      quality: sample.quality,
    });
  }

  private deviceBirth(device: Group): Publication {
    const timestamp = this.now();
    device.born = true;
    return {
      type: 'DBIRTH',
      topic: this.topic('DBIRTH', device.device),
      device: device.device,
      payload: {
        timestamp,
        seq: this.nextSeq(),
        metrics: [...device.metrics.values()].map((m) => this.birthMetric(m)),
      },
    };
  }

  private deviceDeath(device: Group): Publication {
    device.born = false;
    return {
      type: 'DDEATH',
      topic: this.topic('DDEATH', device.device),
      device: device.device,
      payload: { timestamp: this.now(), seq: this.nextSeq(), metrics: [] },
    };
  }

  /** Name, alias (when used), datatype, current value (null: is_null) and quality. */
  private birthMetric(m: MetricState): SpMetric {
    const metric: SpMetric = { name: m.name, datatype: m.type, value: m.value, timestamp: m.timestamp };
    if (this.options.aliases) metric.alias = m.alias;
    if (m.quality) metric.properties = { Quality: { type: 'Int32', value: QUALITY_CODES[m.quality] } };
    return metric;
  }

  /** The alias only when aliases are used (tck-id-payloads-alias-data-cmd-requirement), else the name. */
  private dataMetric(m: MetricState): SpMetric {
    const metric: SpMetric = this.options.aliases
      ? { alias: m.alias, datatype: m.type, value: m.value, timestamp: m.timestamp }
      : { name: m.name, datatype: m.type, value: m.value, timestamp: m.timestamp };
    if (m.quality) metric.properties = { Quality: { type: 'Int32', value: QUALITY_CODES[m.quality] } };
    return metric;
  }
}
