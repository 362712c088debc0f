import { z } from 'zod';
import { compileGetter, compileTemplate, duration, secret, tlsOptions } from '../../src/sdk/index.js';

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
const tagValue = z
  .string()
  .min(1)
  .superRefine((text, ctx) => {
    const problem = problemOf(() => (text.includes('{{') ? compileTemplate(text) : compileGetter(text)));
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe(
    'Where the tag value comes from: an expression (`payload.device`, `meta.mqtt.topic`, `topic[1]`) or a template with `{{ }}` (`line-{{ payload.line }}`). An empty or missing value leaves the tag out.',
  );

const fieldType = z
  .enum(FIELD_TYPES)
  .describe(
    'InfluxDB field type. A value that can not be converted to it sends the message to the dead letters (never a silent change of type).',
  );

const fieldSpec = z.union([
  fieldType,
  z.strictObject({
    from: expression(
      'Where the value comes from. Default: `payload.<field name>`. Expressions: `payload.a.b`, `meta.key`, `topic[N]`, `id`, `time`.',
    ).optional(),
    type: fieldType.optional().describe('InfluxDB field type. Default: float.'),
  }),
]);

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

export const influxdbSinkConfig = z
  .strictObject({
    url: z
      .string()
      .refine((u) => {
        try {
          const { protocol, username, password } = new URL(u);
          return (protocol === 'http:' || protocol === 'https:') && !username && !password;
        } catch {
          return false;
        }
      }, 'expected an http:// or https:// URL without user name or password, such as http://influxdb:8086 (credentials go in username and password)')
      .describe(
        'InfluxDB HTTP API address: http://host:8086, or https:// for TLS. A path is kept (a reverse proxy under /influx). InfluxDB 2.x and 3 work through their v1-compatible API (see the README).',
      ),
    database: z
      .string()
      .min(1)
      .describe(
        'Database to write to. On InfluxDB 2.x this is the database name of a DBRP mapping to a bucket.',
      ),
    retentionPolicy: z
      .string()
      .min(1)
      .optional()
      .describe("Retention policy to write to. Default: the database's default policy."),
    measurement: z
      .string()
      .min(1)
      .superRefine((t, ctx) => {
        const problem = problemOf(() => compileTemplate(t));
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .describe(
        'Measurement name, a template: `readings`, `{{ topic[1] }}`, `{{ payload.kind }}`. A message whose measurement renders empty is dead-lettered.',
      ),
    tags: nameMap(tagValue, 'tag')
      .default({})
      .describe(
        'Tags (indexed strings that identify a series), by tag name. Keep their number of distinct values bounded: a device id, a site, a line; never a counter or a time.',
      ),
    fields: nameMap(fieldSpec, 'field')
      .optional()
      .describe(
        'Fields (the values), by field name: a type (`integer`) to read `payload.<name>`, or `{ from, type }`. Default: every finite number in the payload, nested objects flattened with dots (`sensor.temp`), as floats. Missing values are left out; a message with no field at all is dead-lettered.',
      ),
    timestamp: expression(
      'Where the point time comes from, e.g. `payload.ts`: a number in `timestampUnit` or an ISO 8601 text. Default: the message time (for MQTT, when the message was received). A message whose timestamp is missing or unreadable is dead-lettered.',
    ).optional(),
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
    username: z
      .string()
      .min(1)
      .optional()
      .describe('User name (InfluxDB 1.x user, or any name with an InfluxDB 2.x token).'),
    password: secret('Password of the user; for InfluxDB 2.x and Cloud, an API token.').optional(),
    tls: tlsOptions.optional(),
    createDatabase: z
      .boolean()
      .default(false)
      .describe(
        'Create the database at connect (CREATE DATABASE, which is idempotent; needs an admin user on InfluxDB 1.x; not available on 2.x).',
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
    if (config.tls !== undefined && !config.url.startsWith('https:')) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls'],
        message: 'tls is set but the url is not https://: TLS is chosen by the URL scheme',
      });
    }
    if (config.password !== undefined && config.username === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['username'],
        message: 'password is set without username (for an InfluxDB 2.x token, any user name works)',
      });
    }
    for (const name of Object.keys(config.tags)) {
      if (config.fields && name in config.fields)
        ctx.addIssue({
          code: 'custom',
          path: ['tags', name],
          message: `"${name}" is both a tag and a field`,
        });
    }
  })
  .describe('Writes points to InfluxDB 1.x (or 2.x / 3 through the v1-compatible API).');

export type InfluxdbSinkConfig = z.output<typeof influxdbSinkConfig>;

/**
 * The precision points are written in: as configured, else microseconds for the message time (the
 * resolution at which sources keep messages apart), else milliseconds.
 */
export function writePrecision(config: Pick<InfluxdbSinkConfig, 'precision' | 'timestamp'>): Precision {
  return config.precision ?? (config.timestamp === undefined ? 'us' : 'ms');
}
