/**
 * The README's first command: the demo runs on embedded defaults (no Redis, no broker, no OPC UA
 * server) and relays data: simulated sensors through the relay pipeline, and the OPC UA plant
 * simulator to MQTT.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { TEST_ROOT } from './opcua-support.js';
import { CLI, waitFor } from './service-process.js';

interface OpcuaPayload {
  node: string;
  value: unknown;
  dataType: string;
  quality: string;
  sourceTimestamp: string;
}

describe('passerelle demo', () => {
  it('relays simulated readings and OPC UA plant values through the embedded broker, then stops cleanly', async () => {
    const child = spawn(process.execPath, [CLI, 'demo', '--duration', '12s'], {
      env: { ...process.env, PASSERELLE_LOG_LEVEL: 'warn', XDG_CONFIG_HOME: join(TEST_ROOT, 'xdg-demo') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    // Watch the embedded broker as a user would with mosquitto_sub.
    await waitFor(
      () => /Demo broker: mqtt:\/\/127\.0\.0\.1:\d+/.test(stderr) || child.exitCode !== null,
      30_000,
      'the demo broker',
    );
    const brokerUrl = /Demo broker: (mqtt:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1];
    expect(brokerUrl, stderr).toBeDefined();
    const opcua: { topic: string; payload: OpcuaPayload }[] = [];
    const watcher = await mqtt.connectAsync(brokerUrl!, { protocolVersion: 4, reconnectPeriod: 200 });
    watcher.on('message', (topic, payload) =>
      opcua.push({ topic, payload: JSON.parse(payload.toString()) as OpcuaPayload }),
    );
    await watcher.subscribeAsync('demo/opcua/#', { qos: 1 });
    try {
      await waitFor(
        () =>
          new Set(opcua.map((m) => m.topic)).has('demo/opcua/Plant/Line1/PartsProduced') ||
          child.exitCode !== null,
        30_000,
        `OPC UA values on the broker\n${stderr}`,
      );
    } finally {
      await watcher.endAsync();
    }
    expect(await exited).toBe(0);

    // Said once on stderr for people; node-opcua's notices are not an operator's business.
    expect(stderr.split('MEMORY outbox').length - 1).toBe(1);
    expect(stderr).not.toMatch(/NODE-OPCUA|CVE-2023-46809|Creating default certificate/);
    expect(stderr).toMatch(/Demo OPC UA server: opc\.tcp:\/\/127\.0\.0\.1:\d+\/passerelle\/simulator/);
    const relayed = stdout
      .split('\n')
      .filter((l) => l.includes('temperatureF'))
      .map((l) => JSON.parse(l) as { payload: { temperature: number; temperatureF: number; site: string } });
    expect(relayed.length).toBeGreaterThan(10);
    for (const { payload } of relayed) {
      expect(payload.site).toBe('demo');
      expect(payload.temperatureF).toBeCloseTo((payload.temperature * 9) / 5 + 32, 0);
    }

    // OPC UA -> MQTT: one topic per variable of Plant/Line1, typed values with their timestamps.
    const byTopic = new Map(opcua.map((m) => [m.topic, m.payload]));
    const temperature = byTopic.get('demo/opcua/Plant/Line1/Temperature');
    expect(temperature).toMatchObject({
      node: 'Plant/Line1/Temperature',
      dataType: 'Double',
      quality: 'good',
    });
    expect(typeof temperature?.value).toBe('number');
    expect(Date.parse(temperature!.sourceTimestamp)).toBeGreaterThan(Date.now() - 120_000);
    expect(byTopic.get('demo/opcua/Plant/Line1/TankLevel')?.dataType).toBe('Double');
    expect(byTopic.get('demo/opcua/Plant/Line1/EnergyWh')?.value).toMatch(/^\d{16,}$/);
    const parts = opcua
      .filter((m) => m.topic === 'demo/opcua/Plant/Line1/PartsProduced')
      .map((m) => m.payload.value as number);
    expect(parts.length).toBeGreaterThan(0);
    expect([...parts].sort((a, b) => a - b)).toEqual(parts);
  });

  it('on a terminal (--log-format pretty): message data alone on stdout, short log lines on stderr, each warning once', async () => {
    const child = spawn(process.execPath, [CLI, 'demo', '--duration', '8s', '--log-format', 'pretty'], {
      env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: join(TEST_ROOT, 'xdg-demo') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);

    const out = stdout.split('\n').filter(Boolean);
    expect(out.length).toBeGreaterThan(5);
    for (const line of out) expect(JSON.parse(line), line).toHaveProperty('payload');
    const err = stderr.split('\n').filter(Boolean);
    expect(
      err.filter((l) => l.startsWith('{')),
      stderr,
    ).toEqual([]);
    expect(
      err.filter((l) => /no Redis configured|MEMORY outbox/.test(l)),
      stderr,
    ).toHaveLength(1);
    expect(stderr).not.toMatch(/NODE-OPCUA|CVE-2023-46809|Creating default certificate|sink write failed/);
    expect(stderr).toMatch(
      /^\d\d:\d\d:\d\d INFO {2}demo-relay\/source connection state changed state=connected$/m,
    );
  }, 60_000);
});
