/**
 * The error vocabulary that components throw and the engine maps to behaviour (docs/architecture.md, "The data path", step 5):
 * NotConnectedError -> reconnect, readiness false; RetryableError -> retry the job with backoff;
 * BatchError -> settle the good messages, retry or dead-letter the rest; FatalError -> dead-letter at once.
 */
export class PasserelleError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface ConfigIssue {
  file?: string;
  line?: number;
  column?: number;
  /** Dotted path inside the pipeline document, e.g. `sinks[0].qos`. */
  path: string;
  message: string;
}

export class ConfigError extends PasserelleError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[] | string) {
    const list = typeof issues === 'string' ? [{ path: '', message: issues }] : issues;
    super(list.map(formatConfigIssue).join('\n'));
    this.issues = list;
  }
}

/**
 * `file:line:col: path: message`; without a position (unreadable file) `file: message`, and
 * without a path (a YAML syntax error) no path part.
 */
export function formatConfigIssue(issue: ConfigIssue): string {
  const where = issue.file
    ? `${issue.file}${issue.line !== undefined ? `:${issue.line}:${issue.column ?? 1}` : ''}: `
    : '';
  return `${where}${issue.path ? `${issue.path}: ` : ''}${issue.message}`;
}

export class NotConnectedError extends PasserelleError {}

export class RetryableError extends PasserelleError {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** Will never succeed: bad data, a 4xx. The affected messages are dead-lettered with this message. */
export class FatalError extends PasserelleError {}

/** The sink can not work at all (bad credentials): the sink stops and readiness goes false. */
export class SinkStoppedError extends PasserelleError {}

export interface BatchFailure {
  /** Index into the batch given to `write()`. */
  index: number;
  error: Error;
}

/**
 * Some messages of a batch failed. Indices not listed succeeded. Failures whose error is a
 * FatalError are dead-lettered; the others are retried.
 */
export class BatchError extends PasserelleError {
  readonly failures: BatchFailure[];
  constructor(failures: BatchFailure[], message?: string) {
    super(
      message ?? `${failures.length} message(s) of the batch failed: ${failures[0]?.error.message ?? ''}`,
    );
    this.failures = failures;
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
