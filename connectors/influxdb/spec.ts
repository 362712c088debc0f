import { z } from 'zod';
import {
  compileGetter,
  compileTemplate,
  duration,
  secret,
  builtSchema,
  lazySchema,
} from '../../src/sdk/index.js';
import { checkInfluxAccess, influxAccessShape, influxUrl } from './connection-spec.js';
import { nameProblem } from './line-protocol.js';
import type { SinkSpec } from '../../src/sdk/index.js';

/** The config of the `influxdb` sink: the one place it is defined. Durations are parsed to milliseconds. */

export const FIELD_TYPES = ['float', 'integer', 'boolean', 'string'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export const PRECISIONS = ['s', 'ms', 'us', 'ns'] as const;
export type Precision = (typeof PRECISIONS)[number];

function problemOf(check: () => unknown): string | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** A value expression (`payload.temp`, `meta.mqtt.topic`, `topic[1]`) checked at load time. */
const expression = (description: string) =>
  z
    .string()
    .min(1)
    .superRefine((expr, ctx) => {
      const problem = problemOf(() => compileGetter(expr));
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(description);

/** A tag value: an expression, or a `{{ }}` template for composed text. */
const tagValue = lazySchema(() =>
  z
    .string()
    .min(1)
    .superRefine((text, ctx) => {
      const problem = problemOf(() => (text.includes('{{') ? compileTemplate(text) : compileGetter(text)));
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(
      'Where the tag value comes from: an expression (`payload.device`, `meta.mqtt.topic`, `topic[1]`) or a template with `{{ }}` (`line-{{ payload.line }}`). An empty or missing value leaves the tag out.',
    ),
);

const fieldType = lazySchema(() =>
  z
    .enum(FIELD_TYPES)
    .describe(
      'InfluxDB field type. A value that can not be converted to it sends the message to the dead letters (never a silent change of type).',
    ),
);

const fieldSpec = lazySchema(() =>
  z.union([
    builtSchema(fieldType),
    z.strictObject({
      from: expression(
        'Where the value comes from. Default: `payload.<field name>`. Expressions: `payload.a.b`, `meta.key`, `topic[N]`, `id`, `time`.',
      ).optional(),
      type: fieldType.optional().describe('InfluxDB field type. Default: float.'),
    }),
  ]),
);

/** Key names InfluxDB 1.x reserves: a tag or field called `time` is refused by the server. */
const RESERVED = new Set(['time']);

const nameMap = <T extends z.ZodType>(value: T, what: string) =>
  z.record(z.string().min(1), value).superRefine((map, ctx) => {
    for (const name of Object.keys(map)) {
      if (RESERVED.has(name))
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `"${name}" can not be a ${what} name in InfluxDB`,
        });
      if (/[\r\n]/.test(name))
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `a ${what} name can not contain a line break`,
        });
    }
  });

/** The InfluxDB API the sink speaks. */
export const VERSIONS = [1, 2, 3] as const;
export type Version = (typeof VERSIONS)[number];

/** Keys that belong to one version only, to tell a user who mixes them what to change. */
const VERSION_KEYS: Record<Version, readonly string[]> = {
  1: ['database', 'retentionPolicy', 'username', 'password', 'createDatabase'],
  2: ['org', 'bucket', 'token'],
  3: ['database', 'token', 'acceptPartial', 'noSync'],
};

export const influxdbSinkConfig = lazySchema(() =>
  z
    .strictObject({
      url: builtSchema(influxUrl),
      version: z
        .union([z.literal(1), z.literal(2), z.literal(3)])
        .default(1)
        .describe(
          'InfluxDB major version, which chooses the API: 1 writes to /write (database, retentionPolicy, username/password); 2 to /api/v2/write (org, bucket, token); 3 to /api/v3/write_lp (database, token).',
        ),
      database: z
        .string()
        .min(1)
        .optional()
        .describe('Database to write to (versions 1 and 3; required there).'),
      retentionPolicy: z
        .string()
        .min(1)
        .optional()
        .describe("Version 1: retention policy to write to. Default: the database's default policy."),
      org: z
        .string()
        .min(1)
        .optional()
        .describe('Version 2: organization name or ID (required; InfluxDB Cloud 2 ignores it).'),
      bucket: z.string().min(1).optional().describe('Version 2: bucket name or ID (required).'),
      token: secret(
        'Versions 2 and 3: API token with write permission, sent as `Authorization: Token` (2) or `Bearer` (3). Required for 2; for 3 unless the server runs without authentication.',
      ).optional(),
      acceptPartial: z
        .boolean()
        .default(true)
        .describe(
          'Version 3: `accept_partial`. true: InfluxDB stores the valid lines of a request and names the refused ones; false: one bad line refuses the request. Either way only the refused points are dead-lettered.',
        ),
      noSync: z
        .boolean()
        .default(false)
        .describe(
          'Version 3: `no_sync`. true: InfluxDB answers before its write-ahead log is persisted (faster; a server crash can lose acknowledged points). Keep false for the at-least-once guarantee.',
        ),
      measurement: z
        .string()
        .min(1)
        .superRefine((t, ctx) => {
          const problem = problemOf(() => compileTemplate(t));
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .describe(
          'Measurement (table, on 3) name, a template: `readings`, `{{ topic[1] }}`, `{{ payload.kind }}`. A message whose measurement renders empty, or into a name line protocol cannot carry, is dead-lettered.',
        ),
      tags: nameMap(builtSchema(tagValue), 'tag')
        .default({})
        .describe(
          'Tags (indexed strings that identify a series), by tag name. Keep their number of distinct values bounded: a device id, a site, a line; never a counter or a time.',
        ),
      fields: nameMap(builtSchema(fieldSpec), 'field')
        .optional()
        .describe(
          'Fields (the values), by field name: a type (`integer`) to read `payload.<name>`, or `{ from, type }`. Default: every finite number in the payload, nested objects flattened with dots (`sensor.temp`), as floats, except the one read by `timestamp`. Missing values are left out; a message with no field at all is dead-lettered.',
        ),
      timestamp: expression(
        'Where the point time comes from, e.g. `payload.ts`: a number in `timestampUnit` or an ISO 8601 text (fractions of a second kept to the nanosecond). Default: the message time (for MQTT, when the message was received). A message whose timestamp is missing or unreadable is dead-lettered.',
      ).optional(),
      timestampField: z
        .boolean()
        .default(false)
        .describe(
          'With the default fields (no `fields`): also write the payload number read by `timestamp` as a field. Default: it is the point time only.',
        ),
      timestampUnit: z
        .enum(PRECISIONS)
        .default('ms')
        .describe('Unit of numeric timestamps read with `timestamp`: s, ms, us or ns since 1970-01-01 UTC.'),
      precision: z
        .enum(PRECISIONS)
        .optional()
        .describe(
          'Precision of the timestamps written. Default: `us` for the message time (no `timestamp`), which is unique per message; `ms` with `timestamp`. Points of one series with the same timestamp are one point in InfluxDB (the later write replaces the fields), so keep it at least as fine as the rate of one series.',
        ),
      ...influxAccessShape,
      createDatabase: z
        .boolean()
        .default(false)
        .describe(
          'Version 1: create the database at connect (CREATE DATABASE, which is idempotent; needs an admin user).',
        ),
      maxPointsPerRequest: z
        .number()
        .int()
        .positive()
        .max(100_000)
        .default(5000)
        .describe(
          'Points per HTTP write request, at most: a larger batch is written in several requests. InfluxDB recommends 5,000.',
        ),
      timeout: duration('How long one HTTP request may take before it is abandoned and retried.').prefault(
        '30s',
      ),
      healthCheckInterval: duration(
        'While idle, how often the server is checked (an empty write: reachable, credentials, database), so readiness reflects an outage before the next batch.',
      ).prefault('10s'),
    })
    .superRefine((config, ctx) => {
      checkInfluxAccess(
        config,
        ctx,
        ' (for a 2.x token on the v1 API any user name works; or use version: 2 with token)',
      );
      const version = config.version;
      const given = (key: string): boolean => {
        const value = (config as Record<string, unknown>)[key];
        // Defaults (false for createDatabase/noSync, true for acceptPartial) are not a choice.
        if (key === 'createDatabase' || key === 'noSync') return value === true;
        if (key === 'acceptPartial') return value === false;
        return value !== undefined;
      };
      const names = { 1: '1.x', 2: '2.x', 3: '3' } as const;
      const foreign = new Map<string, Version[]>();
      for (const other of VERSIONS) {
        if (other === version) continue;
        for (const key of VERSION_KEYS[other]) {
          if (VERSION_KEYS[version].includes(key) || !given(key)) continue;
          foreign.set(key, [...(foreign.get(key) ?? []), other]);
        }
      }
      for (const [key, versions] of foreign) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `${key} is an InfluxDB ${versions.map((v) => names[v]).join(' or ')} setting but version is ${version}${version === 1 ? ' (the default)' : ''}: set version: ${versions.join(' or ')}, or use ${needs(version)}`,
        });
      }
      const require = (key: 'database' | 'org' | 'bucket' | 'token'): void => {
        if (config[key] === undefined)
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `${key} is required with version: ${version} (${needs(version)})`,
          });
      };
      if (version === 1 || version === 3) require('database');
      if (version === 2) {
        require('org');
        require('bucket');
        require('token');
      }
      if (config.timestampField && (config.timestamp === undefined || config.fields !== undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['timestampField'],
          message:
            'timestampField applies to the default fields with a timestamp: set timestamp and leave out fields (with fields, declare the field instead)',
        });
      }
      // Names fixed in the config must be writable in this version's line protocol.
      const dialect = version === 3 ? 'rust' : 'go';
      const check = (
        name: string,
        element: 'tag key' | 'field key' | 'measurement',
        path: string[],
      ): void => {
        const problem = nameProblem(name, element, dialect);
        if (problem) ctx.addIssue({ code: 'custom', path, message: `${JSON.stringify(name)}: ${problem}` });
      };
      if (!config.measurement.includes('{{')) check(config.measurement, 'measurement', ['measurement']);
      for (const name of Object.keys(config.tags)) check(name, 'tag key', ['tags', name]);
      for (const name of Object.keys(config.fields ?? {})) check(name, 'field key', ['fields', name]);
      for (const name of Object.keys(config.tags)) {
        if (config.fields && name in config.fields)
          ctx.addIssue({
            code: 'custom',
            path: ['tags', name],
            message: `"${name}" is both a tag and a field`,
          });
      }
    })
    .describe('Writes points to InfluxDB 1.x, 2.x or 3, each through its own write API.'),
);

function needs(version: Version): string {
  return version === 1
    ? 'database, retentionPolicy, username, password'
    : version === 2
      ? 'org, bucket, token'
      : 'database, token';
}

export type InfluxdbSinkConfig = z.output<typeof influxdbSinkConfig>;

/**
 * The precision points are written in: as configured, else microseconds for the message time (the
 * resolution at which sources keep messages apart), else milliseconds.
 */
export function writePrecision(config: Pick<InfluxdbSinkConfig, 'precision' | 'timestamp'>): Precision {
  return config.precision ?? (config.timestamp === undefined ? 'us' : 'ms');
}

export const influxdbSinkSpec: SinkSpec<typeof influxdbSinkConfig> = {
  kind: 'sink',
  type: 'influxdb',
  title: 'InfluxDB',
  summary:
    'Writes messages as points to InfluxDB 1.x, 2.x or 3 through its native write API, in batches; points InfluxDB refuses, and texts line protocol cannot carry, are dead-lettered with the reason, the rest of the batch is stored.',
  get config() {
    return builtSchema(influxdbSinkConfig);
  },
  examples: [
    { url: 'http://influxdb:8086', database: 'plant', measurement: 'readings' },
    {
      url: 'https://influxdb.example.com:8086',
      database: 'plant',
      retentionPolicy: 'one_year',
      measurement: '{{ topic[1] }}',
      tags: { device: 'payload.deviceId', site: 'topic[0]' },
      fields: {
        temperature: 'float',
        rssi: 'integer',
        online: 'boolean',
        firmware: { from: 'meta.fw', type: 'string' },
      },
      timestamp: 'payload.ts',
      username: 'bridge',
      password: '${env:INFLUXDB_PASSWORD}',
      tls: { ca: '/etc/passerelle/influxdb-ca.pem' },
      batch: { count: 5000, maxWait: '1s' },
    },
    {
      url: 'https://influxdb.example.com:8086',
      version: 2,
      org: 'plant-co',
      bucket: 'plant',
      token: '${env:INFLUXDB_TOKEN}',
      measurement: 'telemetry',
      tags: { device: 'topic[2]' },
      timestamp: 'payload.ts',
      precision: 'ns',
    },
    {
      url: 'http://influxdb3:8181',
      version: 3,
      database: 'plant',
      token: '${env:INFLUXDB_TOKEN}',
      measurement: 'telemetry',
      tags: { device: 'topic[2]' },
    },
  ],
  // write() resolves on InfluxDB's 204: the points are in its WAL.
  // Few large writes: InfluxDB recommends 5,000 points per request; a second of latency is fine for an archive.
  batchDefaults: { count: 5000, maxWait: '1s' },
  delivery: () => 'at-least-once',
  // A point is identified by measurement, tags and timestamp: writing it again replaces it.
  idempotent: () => true,
  caveats: (config) => {
    const precision = writePrecision(config);
    if (config.timestamp !== undefined)
      return [
        `points of one series (measurement and tags) with the same time from \`timestamp: ${config.timestamp}\` (at precision ${precision}) are one point in InfluxDB: the later message replaces the earlier`,
      ];
    if (precision === 's' || precision === 'ms')
      return [
        `precision ${precision} is coarser than the message time (microseconds): messages of one series received in the same ${precision === 's' ? 'second' : 'millisecond'} are one point in InfluxDB`,
      ];
    return [];
  },
  load: async () => (await import('./index.js')).influxdbSink,
};
