// The SDK's common vocabulary. The column helpers (./columns.js), the payload codecs
// (./codecs/index.js) and the fenced writer (./leased-writer.js) are imported from their own
// modules, by the connectors that use them: every process loads this barrel, and a relay none of
// those (issue 17: -0.3 MB of heap, -0.1 to -0.2 MB of idle RSS).
export * from './message.js';
export * from './clock.js';
export * from './delivery.js';
export * from './errors.js';
export * from './define.js';
export * from './fields.js';
export * from './inbox.js';
export * from './logger.js';
export * from './template.js';
export * from './path.js';
export * from './redact.js';
export * from './timing.js';
export * from './lease.js';
export * from './serial-queue.js';
export * from './printable.js';
export * from './bounded-copy.js';
export * from './memory-budget.js';
export * from './run.js';
export * from './time-zone.js';
export * from './lazy-require.js';
export * from './transient-require.js';
export * from './lazy-schema.js';
export * from './node-crypto.js';
