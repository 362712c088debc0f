import { defineSink, defineSource } from '../../src/sdk/index.js';
import { OpcuaWriteSink } from './sink.js';
import { OpcuaSource } from './source.js';
import { connectionWarnings, opcuaSourceConfig, opcuaWriteSinkConfig } from './spec.js';

export { OpcuaSource, type OpcuaPayload } from './source.js';
export { OpcuaWriteSink } from './sink.js';
export {
  opcuaSourceConfig,
  opcuaWriteSinkConfig,
  type OpcuaSourceConfig,
  type OpcuaWriteSinkConfig,
} from './spec.js';
export {
  startOpcuaSimulator,
  PLANT_NAMESPACE,
  type RunningSimulator,
  type SimulatorOptions,
} from './simulator.js';

// node-opcua is imported lazily by the classes (on connect): defining the components costs nothing.

export const opcuaSource = defineSource({
  type: 'opcua',
  title: 'OPC UA client',
  summary:
    'Reads OPC UA variables by subscription (data changes) or polling, with security, user identity and automatic recovery; one message per value.',
  config: opcuaSourceConfig,
  examples: [
    {
      url: 'opc.tcp://plc:4840',
      nodes: ['ns=2;s=Line1.Temperature', 'nsu=urn:plant;s=Line1.Pressure'],
    },
    {
      url: 'opc.tcp://plc:4840',
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Basic256Sha256',
      username: 'bridge',
      password: '${env:OPCUA_PASSWORD}',
      trustedServerFingerprints: ['3A:5F:0C:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11'],
      nodes: [
        { folder: 'Plant/Line1', depth: 2, exclude: ['*Alarm*'] },
        { browsePath: 'Plant/Line1/TankLevel', deadband: { type: 'percent', value: 2 } },
      ],
      publishingInterval: '500ms',
    },
    { url: 'opc.tcp://gateway:4840', mode: 'poll', pollInterval: '10s', nodes: ['ns=3;i=1001'] },
  ],
  // Data changes can not be held back on the server: what is in flight when the service stops is lost.
  delivery: () => 'best-effort',
  // One session per server and pipeline: two replicas would read everything twice.
  singleReader: () => true,
  warnings: connectionWarnings,
  create: (config, ctx) => new OpcuaSource(config, ctx),
});

export const opcuaWriteSink = defineSink({
  type: 'opcua-write',
  title: 'OPC UA writer',
  summary:
    "Writes message values to OPC UA variables, converted to each node's data type; a refused write is dead-lettered with its status code.",
  config: opcuaWriteSinkConfig,
  examples: [
    { url: 'opc.tcp://plc:4840', nodeId: 'nsu=urn:plant;s=Setpoints.{{ topic[2] }}', value: 'payload.value' },
    {
      url: 'opc.tcp://plc:4840',
      securityMode: 'SignAndEncrypt',
      username: 'writer',
      password: '${env:OPCUA_PASSWORD}',
      nodeId: '{{ payload.nodeId }}',
      readBack: true,
    },
  ],
  delivery: () => 'at-least-once',
  // Writing the same value twice leaves the same state.
  idempotent: () => true,
  warnings: connectionWarnings,
  create: (config, ctx) => new OpcuaWriteSink(config, ctx),
});
