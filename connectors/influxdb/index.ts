import { defineSink } from '../../src/sdk/index.js';
import { InfluxdbSink } from './sink.js';
import { influxdbSinkConfig, writePrecision } from './spec.js';

export { InfluxdbSink } from './sink.js';
export { PointMapper, PointError } from './point.js';
export { influxdbSinkConfig, type InfluxdbSinkConfig } from './spec.js';

export const influxdbSink = defineSink({
  type: 'influxdb',
  title: 'InfluxDB',
  summary:
    'Writes messages as points to InfluxDB 1.x (or 2.x / 3 through the v1 API), in batches; points InfluxDB refuses are dead-lettered with its reason, the rest of the batch is stored.',
  config: influxdbSinkConfig,
  examples: [
    { url: 'http://influxdb:8086', database: 'plant', measurement: 'readings' },
    {
      url: 'https://influxdb.example.com:8086',
      database: 'plant',
      retentionPolicy: 'one_year',
      measurement: '{{ topic[1] }}',
      tags: { device: 'payload.deviceId', site: 'topic[0]' },
      fields: {
        temperature: 'float',
        rssi: 'integer',
        online: 'boolean',
        firmware: { from: 'meta.fw', type: 'string' },
      },
      timestamp: 'payload.ts',
      username: 'bridge',
      password: '${env:INFLUXDB_PASSWORD}',
      tls: { ca: '/etc/passerelle/influxdb-ca.pem' },
      batch: { count: 5000, maxWait: '1s' },
    },
  ],
  // write() resolves on InfluxDB's 204: the points are in its WAL.
  // Few large writes: InfluxDB recommends 5,000 points per request; a second of latency is fine for an archive.
  batchDefaults: { count: 5000, maxWait: '1s' },
  delivery: () => 'at-least-once',
  // A point is identified by measurement, tags and timestamp: writing it again replaces it.
  idempotent: () => true,
  caveats: (config) => {
    const precision = writePrecision(config);
    if (config.timestamp !== undefined)
      return [
        `points of one series (measurement and tags) with the same time from \`timestamp: ${config.timestamp}\` (at precision ${precision}) are one point in InfluxDB: the later message replaces the earlier`,
      ];
    if (precision === 's' || precision === 'ms')
      return [
        `precision ${precision} is coarser than the message time (microseconds): messages of one series received in the same ${precision === 's' ? 'second' : 'millisecond'} are one point in InfluxDB`,
      ];
    return [];
  },
  create: (config, ctx) => new InfluxdbSink(config, ctx),
});
