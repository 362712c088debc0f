import { createRequire } from 'node:module';
import net from 'node:net';
import type tls from 'node:tls';
import mqtt, { MqttClient, type IClientOptions } from 'mqtt';

const require = createRequire(import.meta.url);

type Options = IClientOptions & { socksProxy?: string; hostname?: string; auth?: string };

/**
 * An mqtt.js client for `url`, like `mqtt.connect(url, options)`. mqtt.js's `connect()` requires
 * every transport it knows on its first call: WebSocket (`ws`) and SOCKS (`socks`, `ip-address`,
 * `smart-buffer`), about 3 MB of heap for the life of a relay that only speaks mqtt:// or mqtts://.
 * For those two, with no SOCKS proxy, this builds the same client on `net` / `tls` streams, as
 * mqtt.js's own tcp and tls builders do (mqtt/build/lib/connect/{index,tcp,tls}.js, 5.16); anything
 * else (ws://, wss://, a proxy in `socksProxy` or MQTTJS_SOCKS_PROXY) goes to `mqtt.connect()`.
 */
export function connectClient(url: string, options: IClientOptions): MqttClient {
  const parsed = new URL(url);
  const protocol = parsed.protocol.replace(/:$/, '');
  const socksProxy = (options as Options).socksProxy ?? process.env['MQTTJS_SOCKS_PROXY'];
  if ((protocol !== 'mqtt' && protocol !== 'mqtts') || socksProxy) return mqtt.connect(url, options);

  const opts: Options = {
    ...(parsed.port ? { port: Number(parsed.port) } : {}),
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    protocol,
    ...options,
  };
  // Credentials and clientId in the URL win, as with mqtt.connect().
  if (parsed.username) {
    const auth =
      decodeURIComponent(parsed.username) +
      (parsed.password ? `:${decodeURIComponent(parsed.password)}` : '');
    const match = /^(.+):(.+)$/.exec(auth);
    opts.username = match ? match[1] : auth;
    if (match) opts.password = match[2];
  }
  const clientId = parsed.searchParams.get('clientId');
  if (clientId !== null) opts.clientId = clientId;
  // mqtt.js upgrades mqtt:// to TLS when a client certificate is given (the spec refuses that mix).
  if (opts.cert && opts.key) opts.protocol = 'mqtts';
  if (opts.clean === false && !opts.clientId) throw new Error('Missing clientId for unclean clients');
  opts.defaultProtocol = opts.protocol;
  const build = opts.protocol === 'mqtts' ? tlsStream : tcpStream;
  const client = new MqttClient((c) => build(c, opts), opts);
  // As mqtt.connect(): errors are reported through the client's events, never thrown from here.
  client.on('error', () => {});
  return client;
}

function tcpStream(_client: MqttClient, opts: Options): net.Socket {
  opts.port = opts.port || 1883;
  opts.hostname = opts.hostname || opts.host || 'localhost';
  return net.createConnection({ port: opts.port, host: opts.hostname });
}

function tlsStream(client: MqttClient, opts: Options): tls.TLSSocket {
  opts.port = opts.port || 8883;
  opts.host = opts.hostname || opts.host || 'localhost';
  if (net.isIP(opts.host) === 0 && !opts.servername) opts.servername = opts.host;
  opts.rejectUnauthorized = opts.rejectUnauthorized !== false;
  // node:tls (and with it node:crypto) loads with the first mqtts:// connection, not in every relay.
  const connection = (require('node:tls') as typeof tls).connect(opts as tls.ConnectionOptions);
  const onError = (error: Error): void => {
    if (opts.rejectUnauthorized) client.emit('error', error);
    connection.end();
  };
  connection.on('secureConnect', () => {
    if (opts.rejectUnauthorized && !connection.authorized)
      connection.emit('error', new Error('TLS not authorized'));
    else connection.removeListener('error', onError);
  });
  connection.on('error', onError);
  return connection;
}
