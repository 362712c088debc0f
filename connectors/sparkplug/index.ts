import { defineSource } from '../../src/sdk/index.js';
import { SparkplugSource } from './host-source.js';
import { sparkplugSourceConfig } from './host-spec.js';

export { SparkplugSource } from './host-source.js';
export { sparkplugSourceConfig, type SparkplugSourceConfig } from './host-spec.js';

export const sparkplugSource = defineSource({
  type: 'sparkplug',
  title: 'Sparkplug B host application',
  summary:
    'Reads Sparkplug B (spBv1.0) as a host application: births register metrics and aliases, data is resolved through them, deaths mark metrics stale, sequence gaps are counted and may request a rebirth; optional primary host STATE.',
  config: sparkplugSourceConfig,
  examples: [
    { url: 'mqtt://broker:1883', groups: ['Plant1'] },
    {
      url: 'mqtts://broker:8883',
      username: 'scada',
      password: '${env:MQTT_PASSWORD}',
      tls: { ca: '/etc/passerelle/ca.pem' },
      groups: ['+'],
      requestRebirth: true,
      primaryHost: { hostId: 'passerelle' },
    },
  ],
  // Sparkplug hosts use a clean session and edge nodes publish data at QoS 0.
  delivery: () => 'best-effort',
  // Sequence numbers and aliases are per connection: one replica reads.
  singleReader: () => true,
  warnings: (config) =>
    config.requestRebirth
      ? []
      : [
          {
            path: ['requestRebirth'],
            message:
              'requestRebirth is false: after a missed birth (passerelle started after the edge node, a sequence gap), the data of that edge node is dropped until it publishes a new birth by itself',
          },
        ],
  create: (config, ctx) => new SparkplugSource(config, ctx),
});
