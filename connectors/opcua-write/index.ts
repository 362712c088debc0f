import { defineSink } from '../../src/sdk/index.js';
import { OpcuaWriteSink } from './sink.js';
import { opcuaWriteSinkSpec } from './spec.js';

export { OpcuaWriteSink } from './sink.js';
export { opcuaWriteSinkConfig, type OpcuaWriteSinkConfig } from './spec.js';

// node-opcua is imported lazily by the class (on connect): defining the component costs nothing.

export const opcuaWriteSink = defineSink({
  ...opcuaWriteSinkSpec,
  create: (config, ctx) => new OpcuaWriteSink(config, ctx),
});
