import { defineSink } from '../../src/sdk/index.js';
import { ChirpstackDownlinkSink } from './sink.js';
import { chirpstackDownlinkConfig } from './spec.js';

export { ChirpstackDownlinkSink } from './sink.js';
export { chirpstackDownlinkConfig, type ChirpstackDownlinkConfig } from './spec.js';

export const chirpstackDownlinkSink = defineSink({
  type: 'chirpstack-downlink',
  title: 'ChirpStack downlinks',
  summary:
    "Queues LoRaWAN downlinks through ChirpStack's MQTT command topic; the frame from bytes, hex, base64, Cayenne LPP or a byte layout, or an object for the device profile codec.",
  config: chirpstackDownlinkConfig,
  examples: [
    { url: 'mqtt://chirpstack-mosquitto:1883', fPort: 10, encoder: 'cayenne-lpp' },
    {
      url: 'mqtt://chirpstack-mosquitto:1883',
      applicationId: '{{ payload.applicationId }}',
      devEui: '{{ payload.devEui }}',
      fPort: 2,
      confirmed: true,
      from: 'payload.command',
      encoder: {
        type: 'byte-layout',
        layout: [{ name: 'setpoint', offset: 0, type: 'int16be', scale: 0.1 }],
      },
    },
  ],
  delivery: (config) => (config.qos >= 1 ? 'at-least-once' : 'best-effort'),
  // v4: every command has an id stable per message, and ChirpStack refuses an id already queued.
  // v3 commands have no id: a retried batch queues the same downlink again.
  idempotent: (config) => config.chirpstackVersion === 'v4',
  caveats: (config) =>
    config.chirpstackVersion === 'v4'
      ? [
          'ChirpStack refuses a repeated command id only while the first command is still in the device queue: a command retried after its downlink was sent is queued again',
        ]
      : ['v3 commands have no id: a retried command is queued twice'],
  create: (config, ctx) => new ChirpstackDownlinkSink(config, ctx),
});
