import { defineSink, defineSource } from '../../src/sdk/index.js';
import { SparkplugCommandsSource } from './edge-commands.js';
import { SparkplugSink } from './edge-sink.js';
import { sparkplugCommandsConfig, sparkplugSinkConfig } from './edge-spec.js';

export { SparkplugCommandsSource } from './edge-commands.js';
export { SparkplugSink } from './edge-sink.js';
export {
  sparkplugCommandsConfig,
  sparkplugSinkConfig,
  type SparkplugCommandsConfig,
  type SparkplugSinkConfig,
} from './edge-spec.js';

export const sparkplugSink = defineSink({
  type: 'sparkplug',
  title: 'Sparkplug B edge node',
  summary:
    'Publishes messages as a Sparkplug B edge node: NBIRTH/DBIRTH with every metric, NDATA/DDATA with aliases and sequence numbers, NDEATH as the Will, a new birth on NCMD Rebirth; quality from OPC UA.',
  config: sparkplugSinkConfig,
  examples: [
    {
      url: 'mqtt://broker:1883',
      groupId: 'plant',
      edgeNodeId: 'passerelle-line1',
      device: 'line1',
      metric: '{{ payload.node }}',
    },
    {
      url: 'mqtts://broker:8883',
      tls: { ca: '/etc/passerelle/ca.pem' },
      username: 'edge',
      password: '${env:EDGE_MQTT_PASSWORD}',
      groupId: 'plant',
      edgeNodeId: 'passerelle-line2',
      primaryHostId: 'scada',
      metrics: [{ name: 'Setpoint', device: 'line2', dataType: 'Double', value: 20 }],
    },
  ],
  delivery: () => 'at-least-once',
  idempotent: () => false,
  caveats: () => [
    'Sparkplug publishes data with MQTT QoS 0: a batch is written once the broker has taken it, but the broker hands it to host applications at most once; a host that misses a message sees the seq gap and asks for a rebirth, which republishes current values, not the values in between.',
    'A batch retried after a lost connection is published again in the new session: hosts may receive some values twice.',
  ],
  create: (config, ctx) => new SparkplugSink(config, ctx),
});

export const sparkplugCommandsSource = defineSource({
  type: 'sparkplug-commands',
  title: 'Sparkplug B edge node commands',
  summary:
    "Receives the NCMD and DCMD that host applications send to passerelle's Sparkplug edge node, one message per writable metric (e.g. into opcua-write).",
  config: sparkplugCommandsConfig,
  examples: [
    {
      url: 'mqtt://broker:1883',
      groupId: 'plant',
      edgeNodeId: 'passerelle-line1',
      writable: [{ device: 'line1', metric: 'Setpoints/*' }],
    },
  ],
  // Commands are MQTT messages of a clean session, taken as they come.
  delivery: () => 'best-effort',
  // Every replica would receive every command and write it again.
  singleReader: () => true,
  create: (config, ctx) => new SparkplugCommandsSource(config, ctx),
});
