import {
  DataType,
  SparkplugValueError,
  dataTypeName,
  decodeMetric,
  decodeValue,
  longToBigInt,
  type DecodedMetric,
  type PasserelleValue,
  type ProtoMetric,
} from './datatypes.js';
import { decodePayload, encodePayload, type RawPayload } from './payload.js';
import { deviceKey, edgeNodeKey, formatTopic, parseTopic, type SparkplugTopic } from './topic.js';

/**
 * What a Sparkplug host application knows of the edge nodes it reads (Sparkplug 3.0 §5): births
 * register metric names, datatypes and aliases; data is resolved through them; deaths make the
 * metrics stale; sequence numbers tell when something was missed. No I/O here: the source feeds
 * PUBLISHes in and acts on what comes out (messages, dead letters, Rebirth commands).
 */

export type Quality = 'good' | 'uncertain' | 'bad' | 'stale';

export interface HostOptions {
  output: 'metric' | 'payload';
  maxPayloadBytes: number;
  maxMetricsPerPayload: number;
  requestRebirth: boolean;
  rebirthIntervalMs: number;
}

/** Things a host counts; each is a label of the source's event counter. */
export type HostEvent =
  | 'nbirth'
  | 'dbirth'
  | 'ndata'
  | 'ddata'
  | 'ndeath'
  | 'ddeath'
  | 'seq_gap'
  | 'data_before_birth'
  | 'unknown_metric'
  | 'stale_death'
  | 'bad_value'
  | 'malformed'
  | 'rebirth_request'
  | 'ignored';

export interface HostRecord {
  payload: Record<string, unknown>;
  meta: Record<string, unknown>;
  time: number;
}

export interface HostOutput {
  records: HostRecord[];
  /** The raw payload goes to the dead letters with this reason. */
  deadLetter?: string;
  /** A PUBLISH that carried data the host could not use (not a dead letter: it was valid Sparkplug). */
  dropped?: string;
  /** An NCMD Rebirth to publish. */
  rebirth?: { topic: string; payload: Uint8Array };
  events: HostEvent[];
}

interface MetricDef {
  name: string;
  datatype: number;
  alias?: string;
  last: PasserelleValue;
  /** Template definitions describe types, they carry no data. */
  definition: boolean;
}

class MetricTable {
  readonly byName = new Map<string, MetricDef>();
  readonly byAlias = new Map<string, MetricDef>();
}

interface DeviceState {
  online: boolean;
  metrics: MetricTable;
}

interface NodeState {
  groupId: string;
  edgeNodeId: string;
  online: boolean;
  bdSeq?: string;
  seq?: number;
  metrics: MetricTable;
  devices: Map<string, DeviceState>;
  lastRebirthAt: number;
}

const CONTROL_PREFIX = 'Node Control/';

/** Quality from a metric's `Quality` property (OPC DA codes, as Ignition writes them). */
function qualityOf(properties: Record<string, PasserelleValue> | undefined): Quality {
  const q = properties?.Quality as { value?: unknown } | undefined;
  const code = typeof q?.value === 'number' ? q.value : undefined;
  if (code === undefined) return 'good';
  if (code === 500) return 'stale';
  if (code >= 192) return 'good';
  if (code >= 64) return 'uncertain';
  return 'bad';
}

export class HostState {
  private readonly nodes = new Map<string, NodeState>();

  constructor(private readonly options: HostOptions) {}

  /** Edge nodes whose birth was seen and no death since. */
  get nodesOnline(): number {
    let n = 0;
    for (const node of this.nodes.values()) if (node.online) n++;
    return n;
  }

  /**
   * The host lost its broker connection: every metric it knew goes stale (Sparkplug 3.0 §5.3),
   * and everything is forgotten, since births come again after the reconnection.
   */
  connectionLost(time: number): HostRecord[] {
    const out: HostOutput = { records: [], events: [] };
    for (const node of this.nodes.values()) {
      if (!node.online) continue;
      const topic: SparkplugTopic = {
        kind: 'node',
        groupId: node.groupId,
        messageType: 'NDEATH',
        edgeNodeId: node.edgeNodeId,
      };
      const ctx = new Handling(this, topic, { metrics: [] }, '', time, out);
      ctx.ndeath();
    }
    this.nodes.clear();
    return out.records;
  }

  /** Handles one PUBLISH; never throws. */
  handle(topic: string, bytes: Uint8Array, receivedAt: number): HostOutput {
    const out: HostOutput = { records: [], events: [] };
    const parsed = parseTopic(topic);
    if ('error' in parsed) {
      out.events.push('malformed');
      out.deadLetter = parsed.error;
      return out;
    }
    // STATE of hosts (read with `+` as group) and commands to edge nodes are not data.
    if (parsed.kind === 'state' || parsed.messageType === 'NCMD' || parsed.messageType === 'DCMD') {
      out.events.push('ignored');
      return out;
    }
    const decoded = decodePayload(bytes, {
      maxBytes: this.options.maxPayloadBytes,
      maxMetrics: this.options.maxMetricsPerPayload,
    });
    if (!decoded.ok) {
      out.events.push('malformed');
      out.deadLetter = `${parsed.messageType} from ${describeSource(parsed)}: ${decoded.reason}`;
      return out;
    }
    const payload = decoded.payload;
    const ctx = new Handling(this, parsed, payload, topic, receivedAt, out);
    switch (parsed.messageType) {
      case 'NBIRTH':
        ctx.nbirth();
        break;
      case 'NDEATH':
        ctx.ndeath();
        break;
      case 'DBIRTH':
        ctx.dbirth();
        break;
      case 'DDEATH':
        ctx.ddeath();
        break;
      default:
        ctx.data();
    }
    if (ctx.badValues.length > 0) {
      out.events.push('bad_value');
      out.deadLetter = `${parsed.messageType} from ${describeSource(parsed)}: ${ctx.badValues.slice(0, 5).join('; ')}${ctx.badValues.length > 5 ? `; and ${ctx.badValues.length - 5} more` : ''}`;
    }
    return out;
  }

  /** @internal */
  node(groupId: string, edgeNodeId: string, create: boolean): NodeState | undefined {
    const key = edgeNodeKey(groupId, edgeNodeId);
    let node = this.nodes.get(key);
    if (!node && create) {
      node = {
        groupId,
        edgeNodeId,
        online: false,
        metrics: new MetricTable(),
        devices: new Map(),
        lastRebirthAt: -Infinity,
      };
      this.nodes.set(key, node);
    }
    return node;
  }

  /** @internal */
  get opts(): HostOptions {
    return this.options;
  }
}

function describeSource(t: SparkplugTopic): string {
  return t.deviceId === undefined
    ? `${t.groupId}/${t.edgeNodeId}`
    : deviceKey(t.groupId, t.edgeNodeId, t.deviceId);
}

/** The handling of one decoded payload. */
class Handling {
  readonly badValues: string[] = [];
  private readonly payloadTime: number;

  constructor(
    private readonly host: HostState,
    /** Changes during an NDEATH, to emit the stale metrics of each device under its own name. */
    private topic: SparkplugTopic,
    private readonly payload: RawPayload,
    private readonly mqttTopic: string,
    private readonly receivedAt: number,
    private readonly out: HostOutput,
  ) {
    this.payloadTime = payload.timestamp ?? receivedAt;
  }

  nbirth(): void {
    const { groupId, edgeNodeId } = this.topic;
    const node = this.host.node(groupId, edgeNodeId, true)!;
    const bdSeq = this.findBdSeq();
    node.online = true;
    node.bdSeq = bdSeq;
    node.seq = this.payload.seq;
    // A new birth replaces everything known of the node: its devices birth again after it.
    node.metrics = new MetricTable();
    node.devices = new Map();
    this.out.events.push('nbirth');
    this.birth(node.metrics);
  }

  dbirth(): void {
    const node = this.liveNode();
    if (!node) return;
    // After a gap the birth is still the truth about the device; the gap only asks for a rebirth.
    this.checkSeq(node);
    const device: DeviceState = { online: true, metrics: new MetricTable() };
    node.devices.set(this.topic.deviceId!, device);
    this.out.events.push('dbirth');
    this.birth(device.metrics);
  }

  data(): void {
    const node = this.liveNode();
    if (!node) return;
    // Sequence numbers count every message of the node, its devices' included.
    this.checkSeq(node);
    let table = node.metrics;
    if (this.topic.deviceId !== undefined) {
      const device = node.devices.get(this.topic.deviceId);
      if (!device?.online) {
        this.beforeBirth(node, `DDATA before the DBIRTH of device ${this.topic.deviceId}`);
        return;
      }
      table = device.metrics;
    }
    this.out.events.push(this.topic.deviceId === undefined ? 'ndata' : 'ddata');
    const entries: Record<string, unknown>[] = [];
    let unknown = 0;
    for (const m of this.payload.metrics) {
      const def = resolve(table, m);
      if (!def) {
        unknown++;
        continue;
      }
      const entry = this.convert(m, def);
      if (entry) entries.push(entry);
    }
    if (unknown > 0) {
      this.out.events.push('unknown_metric');
      this.out.dropped = `${unknown} metric(s) of ${this.topic.messageType} from ${describeSource(this.topic)} not in its birth`;
      this.requestRebirth(node);
    }
    this.emit(entries);
  }

  ddeath(): void {
    const node = this.liveNode();
    if (!node) return;
    this.checkSeq(node);
    const device = node.devices.get(this.topic.deviceId!);
    if (!device?.online) {
      this.out.events.push('ignored');
      return;
    }
    device.online = false;
    this.out.events.push('ddeath');
    this.emit(staleEntries(device.metrics, this.payloadTime));
  }

  ndeath(): void {
    const node = this.host.node(this.topic.groupId, this.topic.edgeNodeId, false);
    if (!node?.online) {
      this.out.events.push('ignored');
      return;
    }
    const bdSeq = this.findBdSeq();
    // The Will of an older session arriving late must not kill the current one.
    if (bdSeq !== undefined && node.bdSeq !== undefined && bdSeq !== node.bdSeq) {
      this.out.events.push('stale_death');
      return;
    }
    node.online = false;
    node.seq = undefined;
    this.out.events.push('ndeath');
    // A death has no timestamp in the Will of many edge nodes: the host marks the time it learnt it.
    const time = this.receivedAt;
    const entries = staleEntries(node.metrics, time);
    const nodeTopic = this.topic;
    this.emit(entries);
    for (const [deviceId, device] of node.devices) {
      if (!device.online) continue;
      device.online = false;
      this.topic = { ...nodeTopic, kind: 'device', messageType: 'DDEATH', deviceId };
      this.emit(staleEntries(device.metrics, time));
    }
    this.topic = nodeTopic;
  }

  private birth(table: MetricTable): void {
    const entries: Record<string, unknown>[] = [];
    for (const m of this.payload.metrics) {
      const name = own(m, 'name') ? m.name! : undefined;
      const datatype = own(m, 'datatype') ? m.datatype! : undefined;
      if (name === undefined || datatype === undefined) {
        this.badValues.push(`a birth metric without ${name === undefined ? 'name' : `datatype (${name})`}`);
        continue;
      }
      const def: MetricDef = {
        name,
        datatype,
        last: null,
        definition: datatype === DataType.Template && m.templateValue?.isDefinition === true,
      };
      if (own(m, 'alias')) {
        def.alias = longToBigInt(m.alias!).toString();
        const taken = table.byAlias.get(def.alias);
        if (taken && taken.name !== name)
          this.badValues.push(`alias ${def.alias} given to both ${taken.name} and ${name}`);
        else table.byAlias.set(def.alias, def);
      }
      table.byName.set(name, def);
      if (def.definition || name === 'bdSeq') continue;
      const entry = this.convert(m, def);
      if (entry) entries.push(entry);
    }
    this.emit(entries);
  }

  /** The node, when its birth was seen; otherwise counts, asks for a rebirth and returns undefined. */
  private liveNode(): NodeState | undefined {
    const node = this.host.node(this.topic.groupId, this.topic.edgeNodeId, true)!;
    if (!node.online) {
      this.beforeBirth(
        node,
        `${this.topic.messageType} before the NBIRTH of ${this.topic.groupId}/${this.topic.edgeNodeId}`,
      );
      return undefined;
    }
    return node;
  }

  private beforeBirth(node: NodeState, reason: string): void {
    this.out.events.push('data_before_birth');
    this.out.dropped = reason;
    this.requestRebirth(node);
  }

  /** Checks and advances the node's sequence number; false after a gap. */
  private checkSeq(node: NodeState): boolean {
    const seq = this.payload.seq;
    const expected = node.seq === undefined ? undefined : (node.seq + 1) % 256;
    node.seq = seq !== undefined && seq <= 255 ? seq : undefined;
    if (seq !== undefined && seq === expected) return true;
    this.out.events.push('seq_gap');
    this.requestRebirth(node);
    return false;
  }

  private requestRebirth(node: NodeState): void {
    const { requestRebirth, rebirthIntervalMs } = this.host.opts;
    if (!requestRebirth || this.out.rebirth) return;
    if (this.receivedAt - node.lastRebirthAt < rebirthIntervalMs) return;
    node.lastRebirthAt = this.receivedAt;
    this.out.events.push('rebirth_request');
    this.out.rebirth = {
      topic: formatTopic({ groupId: node.groupId, messageType: 'NCMD', edgeNodeId: node.edgeNodeId }),
      payload: encodePayload({
        timestamp: Date.now(),
        metrics: [{ name: `${CONTROL_PREFIX}Rebirth`, datatype: 'Boolean', value: true }],
      }),
    };
  }

  private findBdSeq(): string | undefined {
    const m = this.payload.metrics.find((x) => x.name === 'bdSeq');
    if (!m || !own(m, 'datatype')) return undefined;
    try {
      const v = decodeValue(m.datatype!, m);
      return v === null ? undefined : String(v);
    } catch {
      return undefined;
    }
  }

  /** One metric as an entry of the output, or undefined when its value is unreadable. */
  private convert(m: ProtoMetric, def: MetricDef): Record<string, unknown> | undefined {
    let decoded: DecodedMetric;
    try {
      decoded = decodeMetric(m, def.datatype);
    } catch (error) {
      if (!(error instanceof SparkplugValueError)) throw error;
      this.badValues.push(`metric ${def.name}: ${error.message}`);
      return undefined;
    }
    if (!decoded.isHistorical) def.last = decoded.value;
    const entry: Record<string, unknown> = {
      metric: def.name,
      value: decoded.value,
      datatype: decoded.datatype,
      timestamp: decoded.timestamp ?? this.payloadTime,
      quality: qualityOf(decoded.properties),
    };
    if (decoded.properties) entry.properties = decoded.properties;
    if (decoded.isHistorical) entry.historical = true;
    if (decoded.isTransient) entry.transient = true;
    if (decoded.metadata) entry.metadata = decoded.metadata;
    return entry;
  }

  private emit(entries: Record<string, unknown>[]): void {
    const t = this.topic;
    const meta: Record<string, unknown> = {
      'mqtt.topic': this.mqttTopic,
      'sparkplug.group': t.groupId,
      'sparkplug.edgeNode': t.edgeNodeId,
      'sparkplug.device': t.deviceId ?? null,
      'sparkplug.messageType': t.messageType,
    };
    if (this.payload.seq !== undefined) meta['sparkplug.seq'] = this.payload.seq;
    const where = {
      group: t.groupId,
      edgeNode: t.edgeNodeId,
      device: t.deviceId ?? null,
      messageType: t.messageType,
    };
    if (this.host.opts.output === 'payload') {
      if (entries.length === 0) return;
      this.out.records.push({
        payload: { ...where, seq: this.payload.seq ?? null, timestamp: this.payloadTime, metrics: entries },
        meta,
        time: this.payloadTime,
      });
      return;
    }
    // Object literals of one shape, no spreads: this runs once per metric.
    const device = t.deviceId ?? null;
    const seq = this.payload.seq ?? null;
    for (const e of entries) {
      const payload: Record<string, unknown> = {
        group: t.groupId,
        edgeNode: t.edgeNodeId,
        device,
        messageType: t.messageType,
        metric: e.metric,
        value: e.value,
        datatype: e.datatype,
        timestamp: e.timestamp,
        quality: e.quality,
      };
      if (e.properties !== undefined) payload.properties = e.properties;
      if (e.historical !== undefined) payload.historical = e.historical;
      if (e.transient !== undefined) payload.transient = e.transient;
      if (e.metadata !== undefined) payload.metadata = e.metadata;
      this.out.records.push({
        payload,
        meta: {
          'mqtt.topic': this.mqttTopic,
          'sparkplug.group': t.groupId,
          'sparkplug.edgeNode': t.edgeNodeId,
          'sparkplug.device': device,
          'sparkplug.messageType': t.messageType,
          'sparkplug.seq': seq,
          'sparkplug.metric': e.metric,
        },
        time: e.timestamp as number,
      });
    }
  }
}

function own(o: object, key: string): boolean {
  const v = (o as Record<string, unknown>)[key];
  return Object.prototype.hasOwnProperty.call(o, key) && v !== undefined && v !== null;
}

/** The birth definition of a data metric: by alias when it has one, else by name. */
function resolve(table: MetricTable, m: ProtoMetric): MetricDef | undefined {
  if (own(m, 'alias')) return table.byAlias.get(longToBigInt(m.alias!).toString());
  if (own(m, 'name')) return table.byName.get(m.name!);
  return undefined;
}

/** Last known values of a table, marked stale. */
function staleEntries(table: MetricTable, time: number): Record<string, unknown>[] {
  const entries: Record<string, unknown>[] = [];
  for (const def of table.byName.values()) {
    if (def.definition || def.name === 'bdSeq') continue;
    entries.push({
      metric: def.name,
      value: def.last,
      datatype: dataTypeName(def.datatype) ?? String(def.datatype),
      timestamp: time,
      quality: 'stale',
    });
  }
  return entries;
}
