import { defineSink } from '../../src/sdk/index.js';
import { LogSink } from './sink.js';
import { logSinkSpec } from './spec.js';

export { logSinkConfig, type LogSinkConfig } from './spec.js';
export { LogSink, type LogStreams } from './sink.js';
export { formatMessage, toJsonLine } from './format.js';

export const logSink = defineSink({ ...logSinkSpec, create: (config, ctx) => new LogSink(config, ctx) });
