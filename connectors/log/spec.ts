import { z } from 'zod';
import { builtSchema, lazySchema } from '../../src/sdk/index.js';
import type { SinkSpec } from '../../src/sdk/index.js';

export const logSinkConfig = lazySchema(() =>
  z.strictObject({
    output: z
      .string()
      .min(1)
      .default('stdout')
      .describe(
        'Where the lines go: stdout, stderr, logger (the service log, at `level`), or the path of a file to append to (write ./stdout for a file of that name).',
      ),
    fields: z
      .enum(['message', 'payload'])
      .default('message')
      .describe('What each line holds: the whole message ({ id, time, meta, payload }) or the payload only.'),
    level: z
      .enum(['debug', 'info', 'warn', 'error'])
      .default('info')
      .describe('Log level of the entries, when output is logger.'),
    fsync: z
      .boolean()
      .default(false)
      .describe(
        'With a file: flush it to disk after every batch, so a power cut loses nothing acknowledged (slower).',
      ),
  }),
);

export type LogSinkConfig = z.output<typeof logSinkConfig>;

export const logSinkSpec: SinkSpec<typeof logSinkConfig> = {
  kind: 'sink',
  type: 'log',
  title: 'Log',
  summary:
    'Writes each message as one JSON line to stdout, stderr, the service log or a file. For demos and debugging.',
  get config() {
    return builtSchema(logSinkConfig);
  },
  examples: [
    {},
    { fields: 'payload' },
    { output: '/var/log/passerelle/readings.jsonl', fsync: true },
    { output: 'logger', level: 'debug' },
  ],
  // A write resolves once the OS has the bytes; the service logger buffers, so it promises less.
  delivery: (config) => (config.output === 'logger' ? 'best-effort' : 'at-least-once'),
  // A batch written again after a failure appends its lines again.
  idempotent: () => false,
  load: async () => (await import('./index.js')).logSink,
};
