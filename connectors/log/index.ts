import { defineSink } from '../../src/sdk/index.js';
import { LogSink } from './sink.js';
import { logSinkConfig } from './spec.js';

export { logSinkConfig, type LogSinkConfig } from './spec.js';
export { LogSink, type LogStreams } from './sink.js';
export { formatMessage, toJsonLine } from './format.js';

export const logSink = defineSink({
  type: 'log',
  title: 'Log',
  summary:
    'Writes each message as one JSON line to stdout, stderr, the service log or a file. For demos and debugging.',
  config: logSinkConfig,
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
  create: (config, ctx) => new LogSink(config, ctx),
});
