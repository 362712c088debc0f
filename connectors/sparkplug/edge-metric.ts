import { compileGetter, compileTemplate, type Message, type RenderFn } from '../../src/sdk/index.js';
import { DataType, dataTypeName, encodeValue, inferDataType } from './datatypes.js';
import { invalidIdReason } from './topic.js';
import { BDSEQ_METRIC, type EdgeSession, type MetricSample, type Quality } from './edge-session.js';
import { EDGE_DATA_TYPES, type EdgeDataType, type SparkplugSinkConfig } from './edge-spec.js';

/** OPC UA built-in types (as the opcua source names them) -> Sparkplug datatypes. */
const FROM_OPCUA: Record<string, EdgeDataType> = {
  Boolean: 'Boolean',
  SByte: 'Int8',
  Byte: 'UInt8',
  Int16: 'Int16',
  UInt16: 'UInt16',
  Int32: 'Int32',
  UInt32: 'UInt32',
  Int64: 'Int64',
  UInt64: 'UInt64',
  Float: 'Float',
  Double: 'Double',
  String: 'String',
  DateTime: 'DateTime',
  Guid: 'UUID',
  ByteString: 'Bytes',
  LocalizedText: 'String',
  NodeId: 'String',
  XmlElement: 'String',
  StatusCode: 'UInt32',
};

/** Sparkplug 3.0 array datatypes for the scalar types that have one. */
const ARRAY_OF: Partial<Record<EdgeDataType, EdgeDataType>> = {
  Int8: 'Int8Array',
  Int16: 'Int16Array',
  Int32: 'Int32Array',
  Int64: 'Int64Array',
  UInt8: 'UInt8Array',
  UInt16: 'UInt16Array',
  UInt32: 'UInt32Array',
  UInt64: 'UInt64Array',
  Float: 'FloatArray',
  Double: 'DoubleArray',
  Boolean: 'BooleanArray',
  String: 'StringArray',
  DateTime: 'DateTimeArray',
};

const QUALITIES = new Set(['good', 'uncertain', 'bad']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** Turns messages into metric samples: device, name, datatype, value, time and quality. */
export class MetricReader {
  private readonly device: RenderFn | undefined;
  private readonly metric: RenderFn | undefined;
  private readonly value: ReturnType<typeof compileGetter> | undefined;

  constructor(
    private readonly config: Pick<SparkplugSinkConfig, 'device' | 'metric' | 'value' | 'dataType'>,
    private readonly session: Pick<EdgeSession, 'typeOf'>,
  ) {
    this.device = config.device ? compileTemplate(config.device, { strict: true }) : undefined;
    this.metric = config.metric ? compileTemplate(config.metric, { strict: true }) : undefined;
    this.value = config.value ? compileGetter(config.value) : undefined;
  }

  /** The sample of a message; throws an Error whose message is the reason to dead-letter it. */
  read(message: Message): MetricSample {
    const payload = message.payload;
    const record = isRecord(payload) ? payload : undefined;
    let device: string | undefined;
    if (this.device) {
      device = this.device(message);
      const bad = invalidIdReason(device);
      if (bad) throw new Error(`device id ${bad}`);
    }
    const name = this.nameOf(message, record);
    if (device === undefined && (name === BDSEQ_METRIC || name.startsWith('Node Control/')))
      throw new Error(`metric "${name}" is reserved for the edge node itself`);
    const raw = this.value ? this.value(message) : record && 'value' in record ? record.value : payload;
    const value = raw === undefined ? null : raw;
    const known = this.session.typeOf(device, name);
    const type =
      known ??
      this.config.dataType ??
      typeFromOpcua(message, record, value) ??
      typeFromSparkplug(record) ??
      inferred(value);
    if (type === undefined)
      throw new Error(
        `metric "${name}": no datatype for its first value ${value === null ? 'null' : typeof value}; declare it under metrics or set dataType`,
      );
    const code = DataType[type];
    // Objects and mixed arrays without a declared type travel as JSON text.
    const converted =
      type === 'String' && typeof value === 'object' && value !== null && !(value instanceof Uint8Array)
        ? JSON.stringify(value)
        : value;
    try {
      encodeValue(code, converted);
    } catch (error) {
      throw new Error(
        `metric "${name}"${device ? ` of device ${device}` : ''} is ${type}${known ? ' since its birth' : ''}: ${(error as Error).message}`,
      );
    }
    return {
      device,
      name,
      type,
      value: converted,
      timestamp: Math.trunc(message.time),
      quality: qualityOf(message, record),
    };
  }

  private nameOf(message: Message, record: Record<string, unknown> | undefined): string {
    let name: string | undefined;
    if (this.metric) name = this.metric(message);
    else {
      const candidates = [
        record?.node,
        record?.metric,
        message.meta['opcua.name'],
        message.meta['sparkplug.metric'],
        message.meta['mqtt.topic'],
      ];
      name = candidates.find((c): c is string => typeof c === 'string' && c !== '');
      if (name === undefined)
        throw new Error('no metric name: set metric (a template) or send OPC UA data changes');
    }
    if (name === '') throw new Error(`the metric template "${this.config.metric}" gave an empty name`);
    return name;
  }
}

function typeFromOpcua(
  message: Message,
  record: Record<string, unknown> | undefined,
  value: unknown,
): EdgeDataType | undefined {
  const opcua = record?.dataType ?? message.meta['opcua.dataType'];
  if (typeof opcua !== 'string') return undefined;
  const scalar = FROM_OPCUA[opcua];
  if (scalar === undefined) return undefined;
  if (Array.isArray(value)) return ARRAY_OF[scalar] ?? 'String';
  return scalar;
}

/** The datatype of a message from the `sparkplug` source (`payload.datatype`), if the sink publishes it. */
function typeFromSparkplug(record: Record<string, unknown> | undefined): EdgeDataType | undefined {
  const t = record?.datatype;
  return typeof t === 'string' && (EDGE_DATA_TYPES as readonly string[]).includes(t)
    ? (t as EdgeDataType)
    : undefined;
}

function inferred(value: unknown): EdgeDataType | undefined {
  if (value === null) return undefined;
  const code = inferDataType(value);
  if (code !== undefined) return dataTypeName(code) as EdgeDataType;
  return 'String';
}

/** The OPC UA quality of the message (payload.quality or meta opcua.quality), if it has one. */
function qualityOf(message: Message, record: Record<string, unknown> | undefined): Quality | undefined {
  const q = record?.quality ?? message.meta['opcua.quality'];
  return typeof q === 'string' && QUALITIES.has(q) ? (q as Quality) : undefined;
}
