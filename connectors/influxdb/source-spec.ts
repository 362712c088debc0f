import { z } from 'zod';
import { duration, secret, builtSchema, lazySchema } from '../../src/sdk/index.js';
import type { SourceSpec } from '../../src/sdk/index.js';
import { checkInfluxAccess, influxAccessShape, influxUrl } from './connection-spec.js';
import { compileQueryTemplate } from './query-template.js';

/** The config of the `influxdb` source (a query read on each tick of a scheduled pipeline). */
export const influxdbSourceConfig = lazySchema(() =>
  z
    .strictObject({
      url: builtSchema(influxUrl),
      version: z
        .literal(1)
        .default(1)
        .describe(
          'InfluxDB major version, which chooses the query API: 1 sends InfluxQL to /query (also served by 2.x as its 1.x compatibility API). The query languages of 2.x (Flux) and 3 (SQL) come later.',
        ),
      database: z.string().min(1).describe('Database the query runs in (`db`).'),
      retentionPolicy: z
        .string()
        .min(1)
        .optional()
        .describe(
          "Retention policy of measurements the query names without one (`rp`). Default: the database's default.",
        ),
      query: z
        .string()
        .min(1)
        .superRefine((text, ctx) => {
          try {
            compileQueryTemplate(text);
          } catch (error) {
            ctx.addIssue({ code: 'custom', message: (error as Error).message });
          }
        })
        .describe(
          "InfluxQL, run once per tick. `{{ window.start }}` and `{{ window.end }}` are the run's window as quoted UTC time literals (`time >= {{ window.start }} AND time < {{ window.end }}`); `:ns`, `:ms`, `:s` give epoch forms, `:rfc3339` the literal without quotes, `{{ window.duration }}` the window's length (`GROUP BY time({{ window.duration }})`). Several statements separated by `;` run in order.",
        ),
      ...influxAccessShape,
      token: secret(
        'A token sent as `Authorization: Token` (the 1.x compatibility API of InfluxDB 2.x). InfluxDB 1.x uses username and password.',
      ).optional(),
      chunkSize: z
        .number()
        .int()
        .min(1)
        .max(100_000)
        .default(1000)
        .describe(
          'Rows InfluxDB sends per chunk of its answer (`chunk_size`): the answer is read chunk by chunk, so memory stays bounded whatever the size of the result.',
        ),
      batchSize: z.number().int().min(1).max(100_000).default(1000).describe('Messages per batch, at most.'),
      timeout: duration(
        'How long InfluxDB may stay silent (no answer, or no new chunk) before the run fails and is retried.',
      ).prefault('60s'),
    })
    .superRefine((config, ctx) => {
      checkInfluxAccess(config, ctx);
      if (config.token !== undefined && config.username !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['token'],
          message: 'set either token or username/password, not both',
        });
    })
    .describe('Runs an InfluxQL query over the window of each tick of a scheduled pipeline.'),
);

export type InfluxdbSourceConfig = z.output<typeof influxdbSourceConfig>;

export const influxdbSourceSpec: SourceSpec<typeof influxdbSourceConfig> = {
  kind: 'source',
  type: 'influxdb',
  title: 'InfluxDB query',
  summary:
    "Runs an InfluxQL query over each tick's window (yesterday, the last 15 minutes, the shift) and gives one message per row, in scheduled pipelines; the answer is streamed in chunks, integers are kept exact.",
  get config() {
    return builtSchema(influxdbSourceConfig);
  },
  readModes: ['tick'],
  examples: [
    {
      url: 'http://influxdb:8086',
      database: 'plant',
      query:
        'SELECT mean(value) AS value FROM temperature WHERE time >= {{ window.start }} AND time < {{ window.end }} GROUP BY time(1h), machine',
    },
    {
      url: 'https://influxdb.example.com:8086',
      database: 'plant',
      retentionPolicy: 'one_year',
      username: 'reports',
      password: '${env:INFLUXDB_PASSWORD}',
      tls: { ca: '/etc/passerelle/influxdb-ca.pem' },
      query:
        'SELECT last(count) FROM counters WHERE time >= {{ window.start:ns }} AND time < {{ window.end:ns }} GROUP BY line',
    },
  ],
  // A run that fails is run again whole (the tick is the durable unit), with the same message ids.
  delivery: () => 'at-least-once',
  load: async () => (await import('./index.js')).influxdbSource,
};
