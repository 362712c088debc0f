/**
 * The demo also publishes the OPC UA simulator's line 1 as a Sparkplug B edge node
 * (pipelines/demo/sparkplug.yaml): an independent host (Tahu's decoder) on the demo broker sees
 * its birth, data and, when the demo stops, its death.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TahuHost } from '../harness/tahu-host.js';
import { TEST_ROOT } from './opcua-support.js';
import { CLI, waitFor } from './service-process.js';

describe('passerelle demo as a Sparkplug B edge node', { timeout: 120_000 }, () => {
  it('births the device line1 with the plant variables, sends DDATA, and NDEATH when it stops', async () => {
    const child = spawn(process.execPath, [CLI, 'demo', '--duration', '12s'], {
      env: { ...process.env, PASSERELLE_LOG_LEVEL: 'warn', XDG_CONFIG_HOME: join(TEST_ROOT, 'xdg-demo') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(
      () => /Demo broker: mqtt:\/\/127\.0\.0\.1:\d+/.test(stderr) || child.exitCode !== null,
      30_000,
      'the demo broker',
    );
    const brokerUrl = /Demo broker: (mqtt:\/\/127\.0\.0\.1:\d+)/.exec(stderr)![1]!;
    const host = await TahuHost.start(brokerUrl, 'demo');
    try {
      // The host may connect after the birth: ask for one, as a host does for an unknown node.
      await waitFor(
        () => host.seen.length > 0 || child.exitCode !== null,
        30_000,
        `Sparkplug messages\n${stderr}`,
      );
      await host.rebirth('passerelle');
      await waitFor(
        () => host.of('DBIRTH').length > 0 && host.of('DDATA').length > 0,
        30_000,
        `DBIRTH and DDATA of line1\n${stderr}`,
      );
      const birth = host.of('DBIRTH').at(-1)!;
      expect(birth.topic).toBe('spBv1.0/demo/DBIRTH/passerelle/line1');
      expect(birth.metrics.find((m) => m.name === 'Plant/Line1/Temperature')).toMatchObject({
        type: 'Double',
        quality: 192,
      });
      // The demo stops after --duration: its NDEATH comes before the embedded broker closes.
      await waitFor(() => host.of('NDEATH').length > 0, 60_000, `NDEATH when the demo stops\n${stderr}`);
      expect(host.bdSeqOf(host.of('NDEATH')[0]!)).toBe(host.bdSeqOf(host.of('NBIRTH').at(-1)!));
      // The host joined the running demo: data before the first birth it saw is expected.
      expect(host.problems.filter((p) => !/before (NBIRTH|its DBIRTH)/.test(p))).toEqual([]);
    } finally {
      // The embedded broker waits for its clients when the demo stops.
      await host.close();
    }
    expect(await exited).toBe(0);
  });
});
