import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FatalError, RetryableError } from '../src/sdk/index.js';
import { TemplateError } from '../src/sdk/template.js';
import { FieldError } from '../src/transforms/shared/each-message.js';
import { CanonicalError } from '../src/transforms/shared/digest.js';
import { UnitError } from '../src/transforms/unit-convert/units.js';
import { RunFailedError } from '../src/engine/schedule/run.js';
import { PointError } from '../connectors/influxdb/point.js';
import { MalformedAnswerError, QueryAnswerError } from '../connectors/influxdb/query.js';
import { CoercionError } from '../connectors/opcua/values.js';
import { EventError } from '../connectors/chirpstack/events.js';
import { SparkplugValueError } from '../connectors/sparkplug/datatypes.js';
import { UninitialisedFamilyError } from '../connectors/google-sheets/state.js';

/**
 * Errors that mean "this message will never succeed" (bad data, a template that can not render it)
 * are FatalErrors of the SDK's vocabulary: escaping a component, they are dead-lettered at once
 * with their message, not retried as unknown errors.
 */
describe('error vocabulary', () => {
  it.each([
    ['TemplateError', TemplateError],
    ['FieldError', FieldError],
    ['CanonicalError', CanonicalError],
    ['UnitError', UnitError],
    ['PointError', PointError],
    ['CoercionError', CoercionError],
    ['EventError', EventError],
    ['SparkplugValueError', SparkplugValueError],
    // InfluxDB refused the query: asking again gets the same answer.
    ['QueryAnswerError', QueryAnswerError],
  ] as const)('%s is a FatalError and keeps its message', (name, ErrorClass) => {
    const error = new ErrorClass('bad value');
    expect(error).toBeInstanceOf(FatalError);
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error.message).toBe('bad value');
    expect(error.name).toBe(name);
  });

  // Transient: the same call may succeed later, so escaping they are retried with backoff.
  it.each([
    // A proxy's page or a cut answer instead of InfluxDB's JSON.
    ['MalformedAnswerError', MalformedAnswerError],
    // The shared state of a tab expired in Redis; it is read from the sheet again.
    ['UninitialisedFamilyError', UninitialisedFamilyError],
    // The scheduler reruns a failed tick.
    ['RunFailedError', RunFailedError],
  ] as const)('%s is a RetryableError and keeps its message', (name, ErrorClass) => {
    const error = new ErrorClass('try again');
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).not.toBeInstanceOf(FatalError);
    expect(error.message).toBe('try again');
    expect(error.name).toBe(name);
  });
});

/**
 * Error classes of the shipped code (src/, connectors/) that are not the SDK's vocabulary, each with
 * why it never reaches the engine as the component's error. Any other `extends Error` fails below:
 * extend a vocabulary class instead, or add it here with its reason.
 */
const INTERNAL_ERRORS: Record<string, { file: string; reason: string }> = {
  PasserelleError: { file: 'src/sdk/errors.ts', reason: 'the root of the vocabulary itself' },
  HttpTimeoutError: {
    file: 'connectors/influxdb/http.ts',
    reason: 'the InfluxDB source and sink turn it into a RetryableError naming the endpoint',
  },
  JournalCorruptError: {
    file: 'connectors/excel/journal.ts',
    reason: 'the Excel sink sets a corrupt journal aside when it starts',
  },
  JournalSpaceError: {
    file: 'connectors/excel/journal.ts',
    reason: 'the Excel sink records the space it needs and raises a NotConnectedError',
  },
  SchedulerStoppedError: {
    file: 'src/engine/schedule/core.ts',
    reason: "the abort reason of a run when the scheduler stops: the schedulers' own signal",
  },
  OutboxClosedError: {
    file: 'src/outbox/batcher.ts',
    reason: 'refuses an enqueue into a closed outbox: the pipeline is stopping, no component sees it',
  },
  HttpError: {
    file: 'src/runtime/http-errors.ts',
    reason: "a bad request to the service's HTTP server, answered with its status",
  },
};

const root = fileURLToPath(new URL('..', import.meta.url));
const BUILTIN_ERRORS =
  /\bclass\s+(\w+)\s+extends\s+(?:Error|TypeError|RangeError|SyntaxError|AggregateError)\b/g;

function shippedSources(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name).split(sep).join('/'))
    .filter((path) => /\.(ts|js)$/.test(path) && !/\.test\.ts$|\.d\.ts$|\/node_modules\//.test(path));
}

function builtinSubclasses(): { name: string; file: string }[] {
  const found: { name: string; file: string }[] = [];
  for (const file of [...shippedSources('src'), ...shippedSources('connectors')])
    for (const match of readFileSync(join(root, file), 'utf8').matchAll(BUILTIN_ERRORS))
      found.push({ name: match[1]!, file });
  return found;
}

describe('error classes outside the vocabulary', () => {
  const found = builtinSubclasses();

  it('are only the allowed internal ones', () => {
    const unexplained = found.filter((c) => INTERNAL_ERRORS[c.name]?.file !== c.file);
    expect(unexplained, 'extend a class of src/sdk/errors.ts, or allow it with a reason').toEqual([]);
  });

  it('the allowlist names no class that is gone', () => {
    const gone = Object.entries(INTERNAL_ERRORS)
      .filter(([name, { file }]) => !found.some((c) => c.name === name && c.file === file))
      .map(([name]) => name);
    expect(gone).toEqual([]);
  });
});
