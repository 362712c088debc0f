import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { loadPipelineFiles, PIPELINE_TEST_FILE } from '../config/load.js';
import { formatIssue } from '../config/issues.js';
import type { PipelineConfig } from '../config/index.js';
import { findComponent, loadComponent, type Registry } from '../registry/types.js';
import {
  createMessage,
  errorMessage,
  noopMetrics,
  redact,
  silentLogger,
  type Message,
  type Transform,
  type TransformContext,
} from '../sdk/index.js';

/**
 * Pipeline tests: YAML files next to the pipelines (`plant-relay.test.yaml` beside
 * `plant-relay.yaml`) that run input messages through a pipeline's transforms, with no network, and
 * compare what comes out (and what is dead-lettered) with what is expected. See docs/pipeline-tests.md.
 */

const timeValue = z.union([z.number(), z.string()]).describe('Epoch milliseconds or an ISO 8601 date');

const messageFields = {
  payload: z.unknown().optional().describe('The payload (any YAML value).'),
  payloadHex: z.string().optional().describe('A bytes payload, in hex.'),
  payloadBase64: z.string().optional().describe('A bytes payload, in base64.'),
  meta: z.record(z.string(), z.unknown()).optional(),
  time: timeValue.optional(),
};

const inputMessage = z.strictObject({ ...messageFields, id: z.string().optional() });
const expectedMessage = z.strictObject(messageFields);
const expectedDeadLetter = z.strictObject({
  reason: z.string().describe('Text that the dead letter reason must contain.'),
  stage: z.string().optional().describe('Where it was rejected, e.g. `transforms[1]`.'),
});

const testCase = z.strictObject({
  name: z.string().min(1),
  pipeline: z.string().optional().describe('Pipeline name; needed when the file defines several.'),
  input: z.array(inputMessage).min(1),
  output: z.array(expectedMessage).default([]),
  deadLetters: z.array(expectedDeadLetter).default([]),
});

const testFile = z.strictObject({
  pipelines: z.string().optional().describe('The pipeline file, relative to this file.'),
  env: z.record(z.string(), z.string()).default({}),
  tests: z.array(testCase).min(1),
});

/** The `$id` of the JSON Schema of `*.test.yaml` files (committed as pipelines/pipeline-test.schema.json). */
export const PIPELINE_TEST_SCHEMA_ID = 'urn:passerelle:schema:pipeline-test:1';

/** The JSON Schema of `*.test.yaml` files, for editors (yaml-language-server) and CI linters. */
export function buildPipelineTestJsonSchema(): Record<string, unknown> {
  const json = z.toJSONSchema(testFile, {
    target: 'draft-07',
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return {
    $schema: json.$schema,
    $id: PIPELINE_TEST_SCHEMA_ID,
    title: 'passerelle pipeline tests',
    description:
      "Example messages run through a pipeline's transforms by `passerelle test` (docs/pipeline-tests.md).",
    ...Object.fromEntries(Object.entries(json).filter(([k]) => k !== '$schema')),
  };
}

type TestCase = z.infer<typeof testCase>;
type ExpectedMessage = z.infer<typeof expectedMessage>;

export interface CaseResult {
  name: string;
  failures: string[];
}

export interface FileResult {
  file: string;
  /** Problems that stopped the whole file (unreadable, invalid, pipeline not found). */
  errors: string[];
  cases: CaseResult[];
}

/** The test files in the given paths: files as given, folders searched recursively. */
export async function findTestFiles(paths: string[]): Promise<{ files: string[]; missing: string[] }> {
  const files: string[] = [];
  const missing: string[] = [];
  const walk = async (path: string): Promise<void> => {
    const info = await stat(path);
    if (!info.isDirectory()) {
      files.push(path);
      return;
    }
    for (const name of (await readdir(path)).sort()) {
      if (name.startsWith('.') || name === 'node_modules') continue;
      const child = join(path, name);
      if ((await stat(child)).isDirectory()) await walk(child);
      else if (PIPELINE_TEST_FILE.test(name)) files.push(child);
    }
  };
  for (const path of paths) {
    try {
      await walk(path);
    } catch {
      missing.push(path);
    }
  }
  return {
    files: [...new Set(files.map((f) => resolve(f)))].map((f) => relative(process.cwd(), f)),
    missing,
  };
}

export async function runTestFile(file: string, registry: Registry): Promise<FileResult> {
  const result: FileResult = { file, errors: [], cases: [] };
  let spec: z.infer<typeof testFile>;
  try {
    const parsed = testFile.safeParse(parseYaml(await readFile(file, 'utf8')));
    if (!parsed.success) {
      result.errors.push(...parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`));
      return result;
    }
    spec = parsed.data;
  } catch (error) {
    result.errors.push(errorMessage(error));
    return result;
  }
  const pipelineFile = join(
    dirname(file),
    spec.pipelines ?? basename(file).replace(PIPELINE_TEST_FILE, '.yaml'),
  );
  const loaded = await loadPipelineFiles([pipelineFile], registry, { env: spec.env });
  if (loaded.issues.length > 0) {
    result.errors.push(...loaded.issues.map((i) => redact(formatIssue(i))));
    return result;
  }
  for (const c of spec.tests) {
    const pipeline = pickPipeline(loaded.pipelines, c.pipeline);
    if (typeof pipeline === 'string') {
      result.cases.push({ name: c.name, failures: [pipeline] });
      continue;
    }
    result.cases.push({ name: c.name, failures: await runCase(c, pipeline, registry) });
  }
  return result;
}

function pickPipeline(pipelines: PipelineConfig[], name: string | undefined): PipelineConfig | string {
  if (name) {
    return (
      pipelines.find((p) => p.name === name) ??
      `no pipeline named '${name}' (the file has ${pipelines.map((p) => p.name).join(', ')})`
    );
  }
  if (pipelines.length === 1) return pipelines[0]!;
  return `the pipeline file has ${pipelines.length} pipelines: name one with \`pipeline:\``;
}

interface Rejected {
  stage: string;
  reason: string;
  message: Message;
}

/** Runs one case through fresh transform instances, as the engine would, and compares the outcome. */
async function runCase(c: TestCase, pipeline: PipelineConfig, registry: Registry): Promise<string[]> {
  const rejected: Rejected[] = [];
  const transforms: { transform: Transform; component: string }[] = [];
  try {
    const definitions = await Promise.all(
      pipeline.transforms.map((t) => {
        const entry = findComponent(registry, 'transform', t.type);
        if (!entry) throw new Error(`unknown transform ${t.type}`);
        return loadComponent(entry);
      }),
    );
    pipeline.transforms.forEach((t, i) => {
      const component = `transforms[${i}]`;
      const definition = definitions[i]!;
      const transform = definition.create(t.config, {
        pipeline: pipeline.name,
        component,
        logger: silentLogger,
        countDropped: () => {},
        deadLetter: async (message, reason) => void rejected.push({ stage: component, reason, message }),
        metrics: noopMetrics,
      });
      transforms.push({ transform, component });
    });
  } catch (error) {
    return [`the transforms could not be created: ${redact(errorMessage(error))}`];
  }
  const input = c.input.map((m, i) =>
    createMessage({
      id: m.id ?? `input-${i}`,
      payload: payloadOf(m),
      meta: m.meta ?? {},
      time: m.time === undefined ? BASE_TIME + i * 1000 : toTime(m.time),
    }),
  );
  let output: Message[];
  try {
    output = await runThrough(transforms, 0, input, rejected, pipeline.name);
    // Then what transforms still hold (open windows) comes out, as when a pipeline stops.
    for (let i = 0; i < transforms.length; i++) {
      const { transform, component } = transforms[i]!;
      if (!transform.flush) continue;
      const flushed = await transform.flush(Infinity, transformContext(component, rejected, pipeline.name));
      output.push(...(await runThrough(transforms, i + 1, flushed, rejected, pipeline.name)));
    }
  } finally {
    for (const t of transforms) await t.transform.close?.().catch(() => {});
  }
  return [...compareOutput(c.output, output), ...compareDeadLetters(c.deadLetters, rejected)];
}

/** 2026-01-01T00:00:00Z: inputs without a time get this one, one second apart, so results are stable. */
const BASE_TIME = Date.UTC(2026, 0, 1);

async function runThrough(
  transforms: { transform: Transform; component: string }[],
  from: number,
  input: Message[],
  rejected: Rejected[],
  pipeline: string,
): Promise<Message[]> {
  let batch = input;
  for (let i = from; i < transforms.length && batch.length > 0; i++) {
    const { transform, component } = transforms[i]!;
    const ctx = transformContext(component, rejected, pipeline);
    try {
      batch = await transform.apply(batch, ctx);
    } catch (error) {
      // The engine dead-letters the whole batch of a transform that throws; so does the test.
      for (const message of batch)
        rejected.push({ stage: component, reason: `transform failed: ${errorMessage(error)}`, message });
      batch = [];
    }
  }
  return batch;
}

function transformContext(component: string, rejected: Rejected[], pipeline: string): TransformContext {
  return {
    pipeline,
    component,
    logger: silentLogger,
    reject: (message, reason) => void rejected.push({ stage: component, reason, message }),
  };
}

function payloadOf(m: z.infer<typeof inputMessage> | ExpectedMessage): unknown {
  if (m.payloadHex !== undefined) return Buffer.from(m.payloadHex, 'hex');
  if (m.payloadBase64 !== undefined) return Buffer.from(m.payloadBase64, 'base64');
  return m.payload;
}

function toTime(value: number | string): number {
  const t = typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(t)) throw new Error(`time ${String(value)} is not a date`);
  return t;
}

function compareOutput(expected: ExpectedMessage[], actual: Message[]): string[] {
  const failures: string[] = [];
  if (expected.length !== actual.length)
    failures.push(`expected ${expected.length} output message(s), got ${actual.length}`);
  const n = Math.min(expected.length, actual.length);
  for (let i = 0; i < n; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    const hasPayload = e.payload !== undefined || e.payloadHex !== undefined || e.payloadBase64 !== undefined;
    if (hasPayload)
      failures.push(...differences(normalise(payloadOf(e)), normalise(a.payload), `output[${i}].payload`));
    for (const [key, value] of Object.entries(e.meta ?? {}))
      failures.push(
        ...differences(
          normalise(value),
          normalise(Object.hasOwn(a.meta, key) ? a.meta[key] : undefined),
          `output[${i}].meta[${JSON.stringify(key)}]`,
        ),
      );
    if (e.time !== undefined && toTime(e.time) !== a.time)
      failures.push(
        `output[${i}].time: expected ${new Date(toTime(e.time)).toISOString()}, got ${new Date(a.time).toISOString()}`,
      );
  }
  for (let i = n; i < actual.length; i++)
    failures.push(`output[${i}] not expected: ${preview(normalise(actual[i]!.payload))}`);
  return failures;
}

function compareDeadLetters(expected: z.infer<typeof expectedDeadLetter>[], actual: Rejected[]): string[] {
  const failures: string[] = [];
  const left = [...actual];
  for (const e of expected) {
    const at = left.findIndex((r) => r.reason.includes(e.reason) && (!e.stage || r.stage === e.stage));
    if (at === -1) {
      failures.push(
        `expected a dead letter with reason containing "${e.reason}"${e.stage ? ` at ${e.stage}` : ''}; got ${
          actual.length === 0 ? 'none' : actual.map((r) => `${r.stage}: ${r.reason}`).join(' | ')
        }`,
      );
    } else left.splice(at, 1);
  }
  for (const r of left) failures.push(`dead letter not expected: ${r.stage}: ${redact(r.reason)}`);
  return failures;
}

/** Buffers compare by content and show as hex; everything else as the JSON it would be sent as. */
function normalise(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { hex: value.toString('hex') };
  if (value instanceof Uint8Array) return { hex: Buffer.from(value).toString('hex') };
  if (value === undefined) return undefined;
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => (Buffer.isBuffer(v) ? { hex: v.toString('hex') } : v)),
  );
}

const MAX_DIFFERENCES = 10;

/** The paths where two values differ, as `path: expected X, got Y` lines. */
export function differences(expected: unknown, actual: unknown, path: string): string[] {
  const out: string[] = [];
  const walk = (e: unknown, a: unknown, at: string): void => {
    if (out.length >= MAX_DIFFERENCES || isDeepStrictEqual(e, a)) return;
    const bothObjects =
      e !== null &&
      a !== null &&
      typeof e === 'object' &&
      typeof a === 'object' &&
      Array.isArray(e) === Array.isArray(a);
    if (!bothObjects) {
      out.push(`${at}: expected ${preview(e)}, got ${preview(a)}`);
      return;
    }
    const keys = new Set([...Object.keys(e), ...Object.keys(a)]);
    for (const k of keys) {
      const child = Array.isArray(e)
        ? `${at}[${k}]`
        : /^[A-Za-z_$][\w$]*$/.test(k)
          ? `${at}.${k}`
          : `${at}["${k}"]`;
      const ev = Object.hasOwn(e, k) ? (e as Record<string, unknown>)[k] : undefined;
      const av = Object.hasOwn(a, k) ? (a as Record<string, unknown>)[k] : undefined;
      // Own keys only: a payload key `constructor` must not meet Object.prototype.constructor.
      if (!Object.hasOwn(e, k)) out.push(`${child}: not expected, got ${preview(av)}`);
      else if (!Object.hasOwn(a, k)) out.push(`${child}: missing, expected ${preview(ev)}`);
      else walk(ev, av, child);
      if (out.length >= MAX_DIFFERENCES) return;
    }
  };
  walk(expected, actual, path);
  return out;
}

function preview(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
