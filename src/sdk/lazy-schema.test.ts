import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { builtSchema, lazySchema, lazySchemaBuilds } from './lazy-schema.js';

describe('lazySchema', () => {
  it('builds the schema on first use, once, and stands for it', () => {
    let builds = 0;
    const before = lazySchemaBuilds();
    const port = lazySchema(() => {
      builds += 1;
      return z.number().int().describe('A port.');
    });
    expect(builds).toBe(0);
    expect(port.parse(1883)).toBe(1883);
    expect(port.safeParse('x').success).toBe(false);
    expect(builtSchema(port)).toBe(builtSchema(port));
    expect(builds).toBe(1);
    expect(lazySchemaBuilds()).toBe(before + 1);
    expect(port).toBeInstanceOf(z.ZodNumber);
  });

  it('spreads as a shape, and keeps descriptions when built into another schema', () => {
    const shape = lazySchema(() => ({ host: z.string().describe('Host name.') }));
    const port = lazySchema(() => z.number().describe('A port.'));
    const config = z.strictObject({ ...shape, port: builtSchema(port) });
    expect(config.parse({ host: 'h', port: 1 })).toEqual({ host: 'h', port: 1 });
    const json = z.toJSONSchema(config) as { properties: Record<string, { description?: string }> };
    expect(json.properties.host?.description).toBe('Host name.');
    expect(json.properties.port?.description).toBe('A port.');
  });

  it('builtSchema gives any other value as it is', () => {
    const schema = z.string();
    expect(builtSchema(schema)).toBe(schema);
  });
});
