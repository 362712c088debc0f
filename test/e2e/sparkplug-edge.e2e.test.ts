/**
 * passerelle as a Sparkplug B edge node, as a real process: an independent host (Tahu's decoder)
 * sees the NDEATH of a process killed with SIGKILL (the broker's Will, with the bdSeq of the
 * NBIRTH it ends), and of a process stopped with SIGTERM; a host's DCMD reaches an OPC UA
 * variable through `sparkplug-commands -> opcua-write`, and comes back as DDATA.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PLANT_NAMESPACE, startOpcuaSimulator } from '../../connectors/opcua/simulator.js';
import { startMosquitto, type ServiceHandle } from '../harness/services.js';
import { TahuHost } from '../harness/tahu-host.js';
import { SERVER_PKI, TEST_ROOT, clientPki } from './opcua-support.js';
import { startService, tempDir, waitFor, waitReady, type ServiceProcess } from './service-process.js';

function pipeline(name: string, url: string, group: string, protocolVersion: 4 | 5): string {
  return `name: ${name}
source:
  type: simulator
  rate: 20
  devices: 2
  fields:
    temperature: { kind: random-walk, min: 16, max: 26, step: 0.1 }
sinks:
  - type: sparkplug
    url: ${url}
    protocolVersion: ${protocolVersion}
    groupId: ${group}
    edgeNodeId: line1
    device: '{{ payload.device }}'
    metric: temperature
    value: payload.temperature
`;
}

describe('sparkplug edge node process', { timeout: 120_000 }, () => {
  let broker: ServiceHandle;
  let service: ServiceProcess | undefined;
  const hosts: TahuHost[] = [];
  const tmp = tempDir('sparkplug-e2e');

  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterEach(async () => {
    if (service && service.child.exitCode === null) {
      service.kill('SIGKILL');
      await service.exited;
    }
    service = undefined;
    for (const h of hosts.splice(0)) await h.close();
  });
  afterAll(async () => {
    await broker?.dispose();
    tmp.remove();
  });

  it('kill -9: the host gets NDEATH with the bdSeq of the NBIRTH; a restarted process is born again', async () => {
    const group = `kill-${process.pid}`;
    const host = await TahuHost.start(broker.url, group);
    hosts.push(host);
    const file = tmp.write('kill.yaml', pipeline('sparkplug-kill', broker.url, group, 5));
    service = await startService([file]);
    await waitReady(service);
    await waitFor(() => host.of('DDATA').length >= 10, 30_000, 'DDATA from the edge node');
    const bdSeq = host.bdSeqOf(host.of('NBIRTH')[0]!);
    expect(bdSeq).toBe(0);
    service.kill('SIGKILL');
    await service.exited;
    await waitFor(() => host.of('NDEATH').length === 1, 30_000, 'NDEATH (the Will) after kill -9');
    const death = host.of('NDEATH')[0]!;
    expect(host.bdSeqOf(death)).toBe(bdSeq);
    expect(death.seq).toBeUndefined();
    expect(death.qos).toBe(1);
    // The host's own checks: seq in order, DDATA only after DBIRTH, aliases resolved.
    expect(host.problems).toEqual([]);

    service = await startService([file]);
    await waitReady(service);
    await waitFor(() => host.of('NBIRTH').length === 2, 30_000, 'NBIRTH of the restarted process');
    const births = host.of('DDATA').length;
    await waitFor(() => host.of('DDATA').length >= births + 5, 30_000, 'data after the restart');
    expect(host.problems).toEqual([]);
  });

  for (const protocolVersion of [5, 4] as const) {
    it(`SIGTERM with MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}: exactly one NDEATH with the bdSeq of the NBIRTH`, async () => {
      const group = `term${protocolVersion}-${process.pid}`;
      const host = await TahuHost.start(broker.url, group);
      hosts.push(host);
      const file = tmp.write(
        `term${protocolVersion}.yaml`,
        pipeline(`sparkplug-term${protocolVersion}`, broker.url, group, protocolVersion),
      );
      service = await startService([file]);
      await waitReady(service);
      await waitFor(() => host.of('DDATA').length >= 5, 30_000, 'DDATA from the edge node');
      service.kill('SIGTERM');
      expect(await service.exited).toBe(0);
      await waitFor(() => host.of('NDEATH').length >= 1, 10_000, 'NDEATH after SIGTERM');
      // The process has exited: what it sent has reached the host by the host's marker.
      await host.sync();
      expect(host.of('NDEATH')).toHaveLength(1);
      expect(host.bdSeqOf(host.of('NDEATH')[0]!)).toBe(host.bdSeqOf(host.of('NBIRTH')[0]!));
      // Nothing after the death certificate.
      expect(host.seen.at(-1)!.type).toBe('NDEATH');
      expect(host.problems).toEqual([]);
    });
  }

  it('round trip: OPC UA -> DBIRTH; the host writes a setpoint by alias (DCMD) -> opcua-write -> the PLC -> DDATA', async () => {
    const sim = await startOpcuaSimulator({ port: 0, pkiFolder: SERVER_PKI });
    try {
      const group = `loop-${process.pid}`;
      const host = await TahuHost.start(broker.url, group);
      hosts.push(host);
      const file = tmp.write(
        'loop.yaml',
        `name: plant-to-sparkplug
source:
  type: opcua
  url: ${sim.endpointUrl}
  pkiFolder: ${clientPki('sparkplug-e2e')}
  publishingInterval: 200ms
  nodes:
    - folder: Plant/Setpoints
      name: Setpoints
      include: [TargetTemperature, BatchSize]
sinks:
  - type: sparkplug
    url: ${broker.url}
    groupId: ${group}
    edgeNodeId: line1
    device: plc
    metric: '{{ payload.node }}'
---
name: sparkplug-setpoints
source:
  type: sparkplug-commands
  url: ${broker.url}
  groupId: ${group}
  edgeNodeId: line1
  writable:
    - { device: plc, metric: Setpoints/* }
transforms:
  - type: map
    expression: '$merge([payload, {"node": $replace(payload.metric, "/", ".")}])'
sinks:
  - type: opcua-write
    url: ${sim.endpointUrl}
    pkiFolder: ${clientPki('sparkplug-e2e')}
    nodeId: nsu=${PLANT_NAMESPACE};s={{ payload.node }}
    value: payload.value
    readBack: true
`,
      );
      service = await startService([file], { env: { XDG_CONFIG_HOME: join(TEST_ROOT, 'xdg') } });
      await waitReady(service, 60_000);
      await waitFor(
        () => (host.of('DBIRTH').at(-1)?.metrics.length ?? 0) === 2,
        30_000,
        `DBIRTH with the two setpoints\n${service.output()}`,
      );
      const birth = host.of('DBIRTH').at(-1)!;
      const target = birth.metrics.find((m) => m.name === 'Setpoints/TargetTemperature')!;
      expect(target).toMatchObject({ type: 'Double', value: 72.5 });
      expect(birth.metrics.find((m) => m.name === 'Setpoints/BatchSize')).toMatchObject({
        type: 'Int32',
        value: 100,
      });
      // As Ignition sends a write: by alias, with the datatype of the birth.
      await host.command('line1', 'plc', [{ alias: target.alias, type: 'Double', value: 74.5 }]);
      await waitFor(
        () => host.values('line1', 'plc', 'Setpoints/TargetTemperature').includes(74.5),
        30_000,
        `DDATA with the written value\n${service.output()}`,
      );
      const node = sim.server.engine.addressSpace!.findNode(
        `ns=${sim.namespaceIndex};s=Setpoints.TargetTemperature`,
      );
      expect(
        (node as unknown as { readValue(): { value: { value: unknown } } }).readValue().value.value,
      ).toBe(74.5);
      expect(host.problems).toEqual([]);
    } finally {
      await sim.close();
    }
  });
});
