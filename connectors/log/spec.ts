import { z } from 'zod';

export const logSinkConfig = z.strictObject({
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
});

export type LogSinkConfig = z.output<typeof logSinkConfig>;
