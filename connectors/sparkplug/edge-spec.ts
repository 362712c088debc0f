import { z } from 'zod';
import {
  compileGetter,
  duration,
  templateProblem,
  type SinkSpec,
  builtSchema,
  lazySchema,
} from '../../src/sdk/index.js';
import { checkConnection, connectionShape } from '../mqtt/spec.js';
import { DataType, encodeValue } from './datatypes.js';

/** The config of the `sparkplug` sink (passerelle as a Sparkplug B edge node). */

/** The Sparkplug B datatypes a metric can be published as (Sparkplug 3.0 §6.4.16: scalars and arrays; DataSet, Template and PropertySet are not published by the sink). */
export const EDGE_DATA_TYPES = [
  'Int8',
  'Int16',
  'Int32',
  'Int64',
  'UInt8',
  'UInt16',
  'UInt32',
  'UInt64',
  'Float',
  'Double',
  'Boolean',
  'String',
  'DateTime',
  'Text',
  'UUID',
  'Bytes',
  'Int8Array',
  'Int16Array',
  'Int32Array',
  'Int64Array',
  'UInt8Array',
  'UInt16Array',
  'UInt32Array',
  'UInt64Array',
  'FloatArray',
  'DoubleArray',
  'BooleanArray',
  'StringArray',
  'DateTimeArray',
] as const;
export type EdgeDataType = (typeof EDGE_DATA_TYPES)[number];

/** Why a Sparkplug id (group, edge node, device) is invalid (tck-id-intro-*-id-chars). */
export function sparkplugIdProblem(id: string): string | undefined {
  if (id === '') return 'a Sparkplug id can not be empty';
  if (/[/+#]/.test(id)) return 'a Sparkplug id can not contain "/", "+" or "#"';
  if (id.includes('\u0000')) return 'a Sparkplug id can not contain the NUL character';
  return undefined;
}

export const sparkplugId = (what: string) =>
  z
    .string()
    .superRefine((id, ctx) => {
      const problem = sparkplugIdProblem(id);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(what);

const template = (what: string) =>
  z
    .string()
    .min(1)
    .superRefine((t, ctx) => {
      const problem = templateProblem(t);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(what);

const getter = (what: string) =>
  z
    .string()
    .superRefine((e, ctx) => {
      try {
        compileGetter(e);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    })
    .describe(what);

const declaredMetric = lazySchema(() =>
  z.strictObject({
    name: z
      .string()
      .min(1)
      .describe('Metric name, as host applications see it (`/` makes folders in Ignition).'),
    device: sparkplugId(
      'Device id the metric belongs to; without it the metric is an edge node metric (NBIRTH/NDATA).',
    ).optional(),
    dataType: z.enum(EDGE_DATA_TYPES).describe('Sparkplug datatype of the metric.'),
    value: z
      .union([z.number(), z.string(), z.boolean()])
      .optional()
      .describe(
        'Value announced in the birth until a message brings one; without it the birth says the value is null.',
      ),
  }),
);

/** The edge node's ids, shared with the sparkplug-commands source (connectors/sparkplug-commands). */
export const edgeIdentity = {
  groupId: sparkplugId('Sparkplug group id: the first level after spBv1.0/ in every topic.'),
  edgeNodeId: sparkplugId(
    'Sparkplug edge node id of passerelle; unique in the group (two edge nodes with one id kill each other).',
  ),
};

export const sparkplugSinkConfig = lazySchema(() =>
  z
    .strictObject({
      ...connectionShape,
      clientId: connectionShape.clientId.describe(
        'MQTT client identifier. Default: `passerelle-<groupId>-<edgeNodeId>`, so that a restarted process takes the place of the one it replaces at once (the broker then sends the old NDEATH before the new NBIRTH).',
      ),
      ...edgeIdentity,
      device: template(
        'Device id of each message, a template (`{{ meta.opcua.browsePath }}`, `line1`): its metrics go in DBIRTH/DDATA of spBv1.0/<group>/DDATA/<edge>/<device>. Without it, metrics belong to the edge node (NBIRTH/NDATA). A device id with `/`, `+` or `#` dead-letters the message.',
      ).optional(),
      metric: template(
        'Metric name of each message, a template. The default takes the OPC UA node name (`payload.node`), the metric of a message from the `sparkplug` source (`payload.metric`), `meta.opcua.name`, `meta.sparkplug.metric`, then the MQTT topic of the message.',
      ).optional(),
      value: getter(
        'Where the value is in the message. Default: `payload.value` when the payload is an object with a `value` key (an OPC UA data change), else the payload.',
      ).optional(),
      dataType: z
        .enum(EDGE_DATA_TYPES)
        .optional()
        .describe(
          "Datatype of metrics learnt from messages. Default: from the OPC UA datatype (`payload.dataType`, `meta.opcua.dataType`), else the Sparkplug datatype of a message from the `sparkplug` source (`payload.datatype`), else from the first value (Boolean, Double, String, Bytes). A metric keeps its birth's datatype: a later value that does not fit is dead-lettered.",
        ),
      metrics: z
        .array(builtSchema(declaredMetric))
        .default([])
        .describe(
          'Metrics announced in the first birth, before any message brings them. Others are learnt from messages: a new metric makes the edge node publish a new birth (its device DDEATH + DBIRTH, or NBIRTH for an edge node metric), as Sparkplug requires every metric of a session in its birth.',
        ),
      aliases: z
        .boolean()
        .default(true)
        .describe(
          'Give every metric an alias in the births and send only aliases in NDATA/DDATA (smaller payloads).',
        ),
      primaryHostId: sparkplugId(
        'Wait for this primary host application: births and data are published only while spBv1.0/STATE/<primaryHostId> says online (Sparkplug 3.0 JSON `{"online": true, "timestamp": ...}`); when it goes offline, the edge node disconnects and reconnects, and waits again.',
      ).optional(),
      maxMetrics: z
        .number()
        .int()
        .positive()
        .max(1_000_000)
        .default(10_000)
        .describe(
          'Metrics of the edge node (all devices), at most. A message that would add one more is dead-lettered: every birth carries every metric, so names taken from message contents must not grow without bound.',
        ),
      maxMetricsPerMessage: z
        .number()
        .int()
        .positive()
        .max(100_000)
        .default(1000)
        .describe('Metrics per NDATA/DDATA payload, at most: a larger batch is split into several payloads.'),
      writeTimeout: duration(
        'How long a batch may wait for the broker to confirm it processed its publishes; past it the batch is retried.',
      ).prefault('30s'),
    })
    .superRefine((config, ctx) => {
      checkConnection(config, ctx);
      const seen = new Set<string>();
      config.metrics.forEach((m, i) => {
        const key = `${m.device ?? ''}\u0000${m.name}`;
        if (seen.has(key))
          ctx.addIssue({
            code: 'custom',
            path: ['metrics', i, 'name'],
            message: `metric "${m.name}" is declared twice${m.device ? ` for device ${m.device}` : ''}`,
          });
        seen.add(key);
        if (m.value !== undefined) {
          try {
            encodeValue(DataType[m.dataType], m.value);
          } catch (error) {
            ctx.addIssue({
              code: 'custom',
              path: ['metrics', i, 'value'],
              message: `not a ${m.dataType}: ${(error as Error).message}`,
            });
          }
        }
        if (m.device === undefined && (m.name === 'bdSeq' || m.name.startsWith('Node Control/')))
          ctx.addIssue({
            code: 'custom',
            path: ['metrics', i, 'name'],
            message: `"${m.name}" is a metric the edge node publishes itself`,
          });
      });
    })
    .describe('Publishes messages as a Sparkplug B edge node (NBIRTH, DBIRTH, NDATA, DDATA, NDEATH).'),
);

export type SparkplugSinkConfig = z.output<typeof sparkplugSinkConfig>;

/** The registry's entry of the sink (loaded lazily: see src/sdk/define.ts). */
export const sparkplugSinkSpec: SinkSpec<typeof sparkplugSinkConfig> = {
  kind: 'sink',
  type: 'sparkplug',
  title: 'Sparkplug B edge node',
  summary:
    'Publishes messages as a Sparkplug B edge node: NBIRTH/DBIRTH with every metric, NDATA/DDATA with aliases and sequence numbers, NDEATH as the Will, a new birth on NCMD Rebirth; quality from OPC UA.',
  get config() {
    return builtSchema(sparkplugSinkConfig);
  },
  examples: [
    {
      url: 'mqtt://broker:1883',
      groupId: 'plant',
      edgeNodeId: 'passerelle-line1',
      device: 'line1',
      metric: '{{ payload.node }}',
    },
    {
      url: 'mqtts://broker:8883',
      tls: { ca: '/etc/passerelle/ca.pem' },
      username: 'edge',
      password: '${env:EDGE_MQTT_PASSWORD}',
      groupId: 'plant',
      edgeNodeId: 'passerelle-line2',
      primaryHostId: 'scada',
      metrics: [{ name: 'Setpoint', device: 'line2', dataType: 'Double', value: 20 }],
    },
  ],
  delivery: () => 'at-least-once',
  idempotent: () => false,
  caveats: () => [
    'Sparkplug publishes data with MQTT QoS 0: a batch is written once the broker has taken it, but the broker hands it to host applications at most once; a host that misses a message sees the seq gap and asks for a rebirth, which republishes current values, not the values in between.',
    'A batch retried after a lost connection is published again in the new session: hosts may receive some values twice.',
  ],
  load: async () => (await import('./edge-index.js')).sparkplugSink,
};
