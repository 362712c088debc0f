import { afterAll, describe, expect, it } from 'vitest';
import { SERVER_PKI } from '../../test/e2e/opcua-support.js';
import { freePort } from '../../test/harness/ports.js';
import { dueSlices, startOpcuaSimulator, type RunningSimulator } from './simulator.js';

/**
 * The simulator's load items (benchmarks) change once per interval each even when its timer
 * callbacks come late: a busy machine made the bench's server produce 4,600 of 5,000 changes/s.
 */
describe('dueSlices', () => {
  it('runs every slice whose time has come', () => {
    expect(dueSlices(0, 99, 100, 10)).toEqual({ from: 0, to: 0 });
    expect(dueSlices(0, 100, 100, 10)).toEqual({ from: 0, to: 1 });
    // A callback 450 ms late catches up on the slices it missed.
    expect(dueSlices(3, 750, 100, 10)).toEqual({ from: 3, to: 7 });
  });

  it('after a stall longer than an interval, changes each item once', () => {
    expect(dueSlices(5, 3_000, 100, 10)).toEqual({ from: 20, to: 30 });
  });

  it('never goes back', () => {
    expect(dueSlices(12, 1_000, 100, 10)).toEqual({ from: 12, to: 12 });
  });
});

describe('simulator load items on a late timer', () => {
  let sim: RunningSimulator | undefined;
  afterAll(async () => {
    await sim?.close();
  });

  it('catches up on the changes a blocked event loop delayed', async () => {
    sim = await startOpcuaSimulator({
      port: await freePort(),
      pkiFolder: SERVER_PKI,
      interval: 1000,
      loadItems: 100,
    });
    const ns = sim.server.engine.addressSpace!.getNamespaceArray()[sim.namespaceIndex]!;
    const items = Array.from({ length: 100 }, (_, i) => {
      const node = ns.findNode(`s=Load.Item${String(i + 1).padStart(5, '0')}`) as
        import('node-opcua').UAVariable | null;
      if (!node) throw new Error(`Load item ${i + 1} is missing`);
      return node;
    });
    // Changes counted per macrotask: a catching-up callback makes them all in one.
    let current = 0;
    const batches: number[] = [];
    for (const node of items)
      node.on('value_changed', () => {
        if (current === 0) setImmediate(() => (batches.push(current), (current = 0)));
        current++;
      });
    await new Promise((resolve) => setTimeout(resolve, 300));
    batches.length = 0;
    // Block the loop for more than five slices (100 ms each): their timer callbacks cannot run.
    const until = Date.now() + 550;
    while (Date.now() < until);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // 10 items a slice: at least five slices' worth at once (one slice without the catch-up).
    expect(Math.max(...batches)).toBeGreaterThanOrEqual(50);
  }, 30_000);
});
