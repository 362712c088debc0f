/**
 * OPC UA -> MQTT through the real CLI: `passerelle run` starts while the OPC UA server is down
 * (readiness false, retrying), `passerelle simulate opcua --secure --user ...` starts after two
 * failed connection attempts,
 * and data flows over SignAndEncrypt with a user name and password, without restarting anything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpcuaSimulator } from '../../connectors/opcua/simulator.js';
import { freePort } from '../harness/ports.js';
import { startMosquitto, type ServiceHandle } from '../harness/services.js';
import { clientPki, SERVER_PKI, TEST_ROOT } from './opcua-support.js';
import {
  CLI,
  metric,
  startService,
  tempDir,
  waitFor,
  waitReady,
  type ServiceProcess,
} from './service-process.js';

const PASSWORD = 'e2e-opcua-password-0123';
let broker: ServiceHandle;
let fingerprint: string;
const dir = tempDir('opcua-e2e');

beforeAll(async () => {
  // The simulator's certificate must exist before the client is told to trust it.
  if (!existsSync(join(SERVER_PKI, 'server/own/certs/certificate.pem'))) {
    const sim = await startOpcuaSimulator({ port: 0, pkiFolder: SERVER_PKI });
    await sim.close();
  }
  fingerprint = new X509Certificate(readFileSync(join(SERVER_PKI, 'server/own/certs/certificate.pem')))
    .fingerprint;
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker?.dispose();
  dir.remove();
});

describe('passerelle run with an OPC UA source', () => {
  it('waits for a server that starts after two failed attempts, then forwards its values to MQTT over a secure session', async () => {
    const port = await freePort();
    const passwordFile = dir.write('opcua-password', `${PASSWORD}\n`);
    const pipeline = dir.write(
      'opcua.yaml',
      [
        'name: plant-opcua',
        'source:',
        '  type: opcua',
        `  url: opc.tcp://127.0.0.1:${port}/passerelle/simulator`,
        '  securityMode: SignAndEncrypt',
        '  securityPolicy: Aes256_Sha256_RsaPss',
        '  username: operator',
        '  password: ${env:OPCUA_PASSWORD}',
        `  pkiFolder: ${clientPki('e2e')}`,
        `  trustedServerFingerprints: ["${fingerprint}"]`,
        '  publishingInterval: 200ms',
        '  nodes:',
        '    - folder: Plant/Line1',
        '      include: [Temperature, PartsProduced, EnergyWh]',
        'sinks:',
        '  - type: mqtt',
        `    url: ${broker.url}`,
        '    topic: e2e/{{ payload.node }}',
        '    topicValues: levels',
        '    qos: 1',
        '',
      ].join('\n'),
    );
    const received: { topic: string; payload: { value: unknown; dataType: string } }[] = [];
    const watcher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 200 });
    watcher.on('message', (topic, payload) =>
      received.push({ topic, payload: JSON.parse(payload.toString()) }),
    );
    await watcher.subscribeAsync('e2e/#', { qos: 1 });

    const env = { OPCUA_PASSWORD: PASSWORD, XDG_CONFIG_HOME: join(TEST_ROOT, 'xdg') };
    const service: ServiceProcess = await startService([pipeline], { env });
    let simulator: ChildProcess | undefined;
    let simulatorOutput = '';
    try {
      // Up, but not ready: the server is not there yet.
      await waitFor(
        async () => {
          if (service.child.exitCode !== null) throw new Error(`service exited:\n${service.output()}`);
          return fetch(`${service.httpUrl}/readyz`).then(
            (r) => r.status === 503,
            () => false,
          );
        },
        30_000,
        'the service to answer /readyz',
      );
      // Counted, not timed: the server starts only after two failed connection attempts (the
      // engine's first, then the source's own retry loop), readiness 503 and no data all along.
      const failedAttempts = (): number =>
        service.output().match(/could not connect, retrying|OPC UA connection failed, retrying/g)?.length ??
        0;
      await waitFor(
        async () => {
          if (service.child.exitCode !== null) throw new Error(`service exited:\n${service.output()}`);
          expect((await fetch(`${service.httpUrl}/readyz`)).status).toBe(503);
          return failedAttempts() >= 2;
        },
        60_000,
        `two failed connection attempts\n${service.output()}`,
      );
      expect((await fetch(`${service.httpUrl}/readyz`)).status).toBe(503);
      expect(received).toEqual([]);

      simulator = spawn(
        process.execPath,
        [
          CLI,
          'simulate',
          'opcua',
          '--port',
          String(port),
          '--secure',
          '--user',
          'operator',
          '--password-file',
          passwordFile,
          '--pki',
          SERVER_PKI,
          '--interval',
          '200ms',
        ],
        { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      simulator.stderr?.on('data', (d: Buffer) => (simulatorOutput += d.toString()));
      await waitReady(service, 60_000);
      await waitFor(
        () => new Set(received.map((r) => r.topic)).size >= 3,
        30_000,
        `values of the three variables on MQTT\n${service.output()}\n${simulatorOutput}`,
      );
      expect(simulatorOutput).toContain(`server certificate SHA-1: ${fingerprint}`);
      expect(simulatorOutput).not.toContain(PASSWORD);
      const topics = new Set(received.map((r) => r.topic));
      expect(topics).toEqual(
        new Set(['e2e/Plant/Line1/Temperature', 'e2e/Plant/Line1/PartsProduced', 'e2e/Plant/Line1/EnergyWh']),
      );
      const energy = received.find((r) => r.topic === 'e2e/Plant/Line1/EnergyWh')!.payload;
      expect(energy.dataType).toBe('Int64');
      expect(BigInt(energy.value as string)).toBeGreaterThan(2n ** 53n);
      expect(await metric(service, 'passerelle_opcua_connected', { pipeline: 'plant-opcua' })).toBe(1);
      expect(service.output()).not.toContain(PASSWORD);
    } finally {
      await watcher.endAsync();
      service.kill();
      simulator?.kill('SIGTERM');
      await service.exited;
    }
  });
});
