// passerelle as a relay: `node bin/passerelle.js run <pipeline.yaml> --http 127.0.0.1:<port>`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The relay's work (issue 17): unit-convert + enrich, the same as the bare relay's and Node-RED's. */
export const PASSERELLE_TRANSFORMS = [
  '  - { type: unit-convert, fields: [{ path: payload.temperature, from: degC, to: degF, decimals: 1 }] }',
  '  - { type: enrich, fields: { site: lyon, relayed: true } }',
];

/** The persistent session of the QoS 1 relay (`cleanSession: false`); the bench ends it after each run. */
export const PERSISTENT_CLIENT_ID = 'bench-relay';

export function preparePasserelle(root, dir, { brokerUrl, httpPort, qos, redisUrl }) {
  // BENCH_SOURCE_PROTOCOL=4: the source speaks MQTT 3.1.1 (the broker's own in-flight limit applies).
  const protocol = process.env.BENCH_SOURCE_PROTOCOL
    ? `, protocolVersion: ${process.env.BENCH_SOURCE_PROTOCOL}`
    : '';
  // BENCH_SINK_BATCH='{ count: 500, maxWait: 2s }': the sink's batch policy (default: the MQTT sink's).
  const batch = process.env.BENCH_SINK_BATCH ? `, batch: ${process.env.BENCH_SINK_BATCH}` : '';
  const source =
    qos >= 1
      ? `{ type: mqtt, url: ${brokerUrl}, topics: [bench/in], qos: ${qos}, cleanSession: false, clientId: ${PERSISTENT_CLIENT_ID}${protocol} }`
      : `{ type: mqtt, url: ${brokerUrl}, topics: [bench/in], qos: ${qos}${protocol} }`;
  const yaml = [
    'name: bench-relay',
    `source: ${source}`,
    'transforms:',
    ...PASSERELLE_TRANSFORMS,
    'sinks:',
    `  - { type: mqtt, url: ${brokerUrl}, topic: bench/out, qos: ${qos}${batch} }`,
    '',
  ].join('\n');
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, yaml);
  const args = [join(root, 'bin', 'passerelle.js'), 'run', file, '--http', `127.0.0.1:${httpPort}`];
  if (redisUrl) args.push('--redis', redisUrl);
  return { cmd: process.execPath, args, env: {}, pipelineFile: file, yaml };
}
