import mqtt, { type IClientOptions } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { connectClient } from './transport.js';

// connectClient() builds mqtt:// and mqtts:// clients itself (without mqtt.js's ws and socks
// transports): the options it gives mqtt.js must be those mqtt.connect() would have given.
const KEYS = [
  'host',
  'hostname',
  'port',
  'protocol',
  'defaultProtocol',
  'username',
  'password',
  'clientId',
  'clean',
];

function optionsOf(make: () => ReturnType<typeof mqtt.connect>): Record<string, unknown> {
  // manualConnect: nothing was opened (and mqtt.js 5.16 cannot end() a client that never connected).
  const client = make();
  const options = client.options as Record<string, unknown>;
  return Object.fromEntries(KEYS.map((k) => [k, options[k]]));
}

describe('connectClient', () => {
  const cases: [string, IClientOptions][] = [
    ['mqtt://broker', {}],
    ['mqtt://broker:1884', { clientId: 'a', username: 'u', password: 'p' }],
    ['mqtts://10.0.0.1:8884', { clientId: 'b' }],
    ['mqtt://us%40er:pa%3Ass@broker:1883', { username: 'ignored' }],
    ['mqtt://[::1]:1883/?clientId=from-url', { clientId: 'ignored', clean: false }],
    ['mqtt://broker', { cert: 'c', key: 'k' }],
  ];
  it.each(cases)('%s gives the options mqtt.connect() gives', (url, extra) => {
    // passerelle always gives a client id (mqtt.js would draw a random one for each client).
    const options = { manualConnect: true, clientId: 'c', ...extra };
    expect(optionsOf(() => connectClient(url, options))).toEqual(
      optionsOf(() => mqtt.connect(url, { ...options })),
    );
  });

  it('refuses a persistent session without a client id, as mqtt.connect() does', () => {
    expect(() => connectClient('mqtt://broker', { manualConnect: true, clean: false })).toThrow(
      'Missing clientId for unclean clients',
    );
  });

  it('leaves ws:// to mqtt.connect()', () => {
    const client = connectClient('ws://broker:8080/mqtt', { manualConnect: true });
    expect(client.options.protocol).toBe('ws');
    expect(client.options.path).toBe('/mqtt');
  });
});
