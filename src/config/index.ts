export {
  loadPipelineFiles,
  loadPipelinesOrThrow,
  loadPipelineTexts,
  loadPipelineTextsWithSpecs,
  validateDocument,
} from './load.js';
export type { LoadOptions, LoadResult, PipelineText, ValidateContext } from './load.js';
export * from './pipeline-schema.js';
export { buildPipelineJsonSchema } from './json-schema.js';
export { effectiveDelivery, formatDeliveryCaveats, formatDeliveryLine } from './delivery.js';
export type { DeliveryReport, SinkDelivery } from './delivery.js';
export {
  describeOptions,
  renderConfigMarkdown,
  replaceConfigSection,
  CONFIG_START,
  CONFIG_END,
} from './describe.js';
export type { OptionRow } from './describe.js';
export { interpolate } from './interpolate.js';
export { didYouMean, editDistance, formatIssue } from './issues.js';
export { pipelineWarnings, type PipelineWarning } from './warnings.js';
