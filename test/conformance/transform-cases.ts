import { expect } from 'vitest';
import {
  createMessage,
  noopMetrics,
  type Message,
  type Transform,
  type TransformDefinition,
} from '../../src/sdk/index.js';
import { createTestTransformContext } from './transform.js';

/** What a transform's `create()` gets in the unit tests of the transforms. */
export function testComponentContext() {
  return {
    pipeline: 'p',
    component: 'transforms[0]',
    logger: createTestTransformContext().logger,
    countDropped() {},
    async deadLetter() {},
    metrics: noopMetrics,
  };
}

/** `create(config)` of a transform's unit tests: the config parsed by its schema, a silent context. */
export function testCreate(definition: TransformDefinition) {
  const ctx = testComponentContext();
  return (config: Record<string, unknown>): Transform =>
    definition.create(definition.config.parse(config), ctx);
}

/** Bytes of a text in UTF-8, and bytes by value: frames in the codec tests. */
export const utf8 = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
export const bytes = (...values: number[]) => new Uint8Array(values);

/** A message at a fixed time, so that golden outputs do not depend on the clock. */
export const testMessage = (id: string, payload: unknown, meta: Record<string, unknown> = {}): Message =>
  createMessage({ id, payload, meta, time: 1_700_000_000_000 });

/** One golden case: a config, an input and the expected output or rejection reason. */
export interface GoldenCase {
  name: string;
  config: Record<string, unknown>;
  payload: unknown;
  meta?: Record<string, unknown>;
  expected: { payload: unknown; meta?: Record<string, unknown> } | { rejected: string };
}

/** Runs one golden case: the message comes out as expected, or is rejected with exactly that reason. */
export async function checkGolden(
  create: (config: Record<string, unknown>) => Transform,
  { config, payload, meta, expected }: GoldenCase,
): Promise<void> {
  const ctx = createTestTransformContext();
  const input = testMessage('m', payload, meta);
  const out = await create(config).apply([input], ctx);
  if ('rejected' in expected) {
    expect(out).toEqual([]);
    expect(ctx.rejected.map((r) => r.reason)).toEqual([expected.rejected]);
    return;
  }
  expect(ctx.rejected).toEqual([]);
  expect(out).toEqual([{ ...input, payload: expected.payload, meta: expected.meta ?? meta ?? {} }]);
}
