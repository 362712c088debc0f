import { defineSource } from '../../src/sdk/index.js';
import { ChirpstackSource } from './source.js';
import { chirpstackSourceConfig } from './spec.js';

export { ChirpstackSource } from './source.js';
export { chirpstackSourceConfig, type ChirpstackSourceConfig } from './spec.js';

export const chirpstackSource = defineSource({
  type: 'chirpstack',
  title: 'ChirpStack (LoRaWAN) events',
  summary:
    "Reads uplinks and other device events from ChirpStack's MQTT integration (v4 and v3), decodes payloads (ChirpStack's object, Cayenne LPP or a byte layout), drops duplicates and tracks frame counters.",
  config: chirpstackSourceConfig,
  examples: [
    { url: 'mqtt://chirpstack-mosquitto:1883' },
    {
      url: 'mqtts://lns.example.com:8883',
      username: 'passerelle',
      password: '${env:CHIRPSTACK_MQTT_PASSWORD}',
      tls: { ca: '/etc/passerelle/ca.pem' },
      applications: ['17c82e96-be03-4f38-aef3-f83d48582d97'],
      events: ['up', 'status'],
      decoders: {
        '1': 'cayenne-lpp',
        '2': { type: 'byte-layout', layout: [{ name: 'level', offset: 0, type: 'uint16be', scale: 0.1 }] },
      },
    },
  ],
  delivery: (config) => (config.qos >= 1 && !config.cleanSession ? 'at-least-once' : 'best-effort'),
  // Without a share group every replica would read every event: one replica reads, under a lease.
  singleReader: (config) => config.shareGroup === undefined,
  create: (config, ctx) => new ChirpstackSource(config, ctx),
});
