// dist/ uses zod through dist/vendor/zod.js, the tree-shaken bundle that `npm run build` makes
// (scripts/bundle-zod.js): checks that dist/ imports zod no other way and that the bundle gives
// the same results and messages as zod itself. Needs `npm run build` (npm test runs it).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const bundlePath = join(dist, 'vendor', 'zod.js');

function* jsFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* jsFiles(path);
    else if (entry.name.endsWith('.js')) yield path;
  }
}

/** The same schemas, made with either zod: every kind of check the specs use. */
function schemas(zod: typeof z) {
  return zod.strictObject({
    name: zod
      .string()
      .min(1)
      .max(5)
      .regex(/^[a-z]+$/),
    port: zod.number().int().min(1).max(65535),
    qos: zod.union([zod.literal(0), zod.literal(1), zod.literal(2)]),
    mode: zod.enum(['a', 'b']),
    tags: zod.array(zod.string()).min(1),
    labels: zod.record(zod.string(), zod.string()),
    flag: zod.boolean().optional(),
    nothing: zod.null().optional(),
    any: zod.unknown(),
    kind: zod.discriminatedUnion('type', [
      zod.strictObject({ type: zod.literal('x'), x: zod.number() }),
      zod.strictObject({ type: zod.literal('y'), y: zod.string() }),
    ]),
    refined: zod.string().superRefine((value, ctx) => {
      if (value === 'no') ctx.addIssue({ code: 'custom', message: 'said no' });
    }),
  });
}

const inputs: unknown[] = [
  {},
  null,
  'text',
  {
    name: 'TOO-LONG',
    port: 1.5,
    qos: 3,
    mode: 'c',
    tags: [],
    labels: { a: 1 },
    flag: 'yes',
    nothing: 0,
    kind: { type: 'z' },
    refined: 'no',
    extra: true,
  },
  {
    name: '',
    port: 70000,
    qos: '1',
    mode: 1,
    tags: [2],
    labels: [],
    kind: { type: 'x', x: 'one', y: 2 },
    refined: 5,
  },
  {
    name: 'ok',
    port: 80,
    qos: 1,
    mode: 'a',
    tags: ['t'],
    labels: {},
    any: 1,
    kind: { type: 'y', y: 'v' },
    refined: 'fine',
  },
];

describe('zod in dist/ (dist/vendor/zod.js)', () => {
  it('is the only way dist/ imports zod, and the bundle is ASCII (V8 keeps it one byte a character)', () => {
    const importers: string[] = [];
    for (const file of jsFiles(dist)) {
      if (file === bundlePath) continue;
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/from ['"]zod(\/[^'"]*)?['"]|import\(['"]zod/);
      if (/from ['"](\.\.?\/)+vendor\/zod\.js['"]/.test(text)) importers.push(file);
    }
    // The config schemas, the SDK's fields, every spec.
    expect(importers.length).toBeGreaterThan(30);
    const bundle = readFileSync(bundlePath, 'utf8');
    expect(bundle).not.toMatch(/[\u0080-\uffff]/);
    // No locale but English (zod's classic API installs it): `de` says "Ungültige Eingabe".
    expect(bundle).not.toMatch(/Ungültige|Ung\\u00fcltige/);
  });

  it('parses and reports issues exactly as zod itself, English messages included', async () => {
    const { z: bundled } = (await import(bundlePath)) as { z: typeof z };
    const ours = schemas(bundled);
    const theirs = schemas(z);
    for (const input of inputs) {
      const a = ours.safeParse(input);
      const b = theirs.safeParse(input);
      expect(a.success).toBe(b.success);
      expect(a.error?.issues).toEqual(b.error?.issues);
      expect(a.data).toEqual(b.data);
    }
    expect(theirs.safeParse(inputs[3]).error?.issues.length).toBeGreaterThan(8);
    expect(bundled.toJSONSchema(ours)).toEqual(z.toJSONSchema(theirs));
  });
});
