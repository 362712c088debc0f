// passerelle as a relay: `node bin/passerelle.js run <pipeline.yaml> --http 127.0.0.1:<port>`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function preparePasserelle(root, dir, { brokerUrl, httpPort, qos, redisUrl, expression }) {
  const source =
    qos >= 1
      ? `{ type: mqtt, url: ${brokerUrl}, topics: [bench/in], qos: ${qos}, cleanSession: false, clientId: bench-relay }`
      : `{ type: mqtt, url: ${brokerUrl}, topics: [bench/in], qos: ${qos} }`;
  const yaml = [
    'name: bench-relay',
    `source: ${source}`,
    'transforms:',
    `  - { type: map, expression: ${JSON.stringify(expression)} }`,
    'sinks:',
    `  - { type: mqtt, url: ${brokerUrl}, topic: bench/out, qos: ${qos} }`,
    '',
  ].join('\n');
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, yaml);
  const args = [join(root, 'bin', 'passerelle.js'), 'run', file, '--http', `127.0.0.1:${httpPort}`];
  if (redisUrl) args.push('--redis', redisUrl);
  return { cmd: process.execPath, args, env: {}, pipelineFile: file, yaml };
}
