import { defineSink } from '../../src/sdk/index.js';
import { GoogleSheetsSink } from './sink.js';
import { googleSheetsSinkSpec } from './spec.js';

export { GoogleSheetsSink, type GoogleSheetsSinkOptions } from './sink.js';
export { googleSheetsSinkConfig, type GoogleSheetsSinkConfig } from './spec.js';

export const googleSheetsSink = defineSink({
  ...googleSheetsSinkSpec,
  create: (config, ctx) => new GoogleSheetsSink(config, ctx),
});
