import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadOpcuaClient } from './connection.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The client code: everything but the simulator (which loads the whole node-opcua) and tests. */
function clientSources(): string[] {
  const files: string[] = [];
  for (const dir of [here, join(here, '../opcua-write')])
    for (const f of readdirSync(dir))
      if (f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'simulator.ts') files.push(join(dir, f));
  return files;
}

describe('loadOpcuaClient', () => {
  it('loads the client side only: no OPC UA server, address space or standard nodeset', async () => {
    await loadOpcuaClient();
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    expect(loaded.some((m) => m.includes('/node-opcua-client/'))).toBe(true);
    for (const pkg of ['node-opcua-server', 'node-opcua-address-space', 'node-opcua-nodeset-ua'])
      expect(
        loaded.filter((m) => m.includes(`/${pkg}/`)),
        pkg,
      ).toEqual([]);
  });

  it('has every node-opcua name the client code uses', async () => {
    const lib = (await loadOpcuaClient()) as unknown as Record<string, unknown>;
    const used = new Set<string>();
    for (const file of clientSources())
      for (const m of readFileSync(file, 'utf8').matchAll(/\blib\.([A-Za-z_$][\w$]*)/g)) used.add(m[1]!);
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((name) => lib[name] === undefined)).toEqual([]);
  });
});
