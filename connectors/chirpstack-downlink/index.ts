import { defineSink } from '../../src/sdk/index.js';
import { ChirpstackDownlinkSink } from './sink.js';
import { chirpstackDownlinkSinkSpec } from './spec.js';

export { ChirpstackDownlinkSink } from './sink.js';
export { chirpstackDownlinkConfig, type ChirpstackDownlinkConfig } from './spec.js';

export const chirpstackDownlinkSink = defineSink({
  ...chirpstackDownlinkSinkSpec,
  create: (config, ctx) => new ChirpstackDownlinkSink(config, ctx),
});
