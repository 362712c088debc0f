import { defineSink } from '../../src/sdk/index.js';
import { ExcelSink } from './sink.js';
import { excelSinkSpec } from './spec.js';

export { excelSinkConfig, type ExcelSinkConfig, EXCEL_MAX_ROWS } from './spec.js';
export { ExcelSink, type ExcelSinkOptions, STATE_FOLDER } from './sink.js';
export { validSheetName, SheetNames } from './naming.js';

export const excelSink = defineSink({
  ...excelSinkSpec,
  create: (config, ctx) => new ExcelSink(config, ctx),
});
