// The baseline: the least a Node.js relay can do on mqtt.js, with the same work as the others:
// degC -> degF with one decimal (unit-convert) and two fields added (enrich). No batching, no
// acknowledgement tracking beyond what mqtt.js does by default.
import * as mqtt from 'mqtt';

const qos = Number(process.env.BENCH_QOS ?? 0);
const client = mqtt.connect(process.env.BENCH_BROKER, { clientId: `bare-relay-${process.pid}`, clean: true });
client.on('message', (_topic, buf) => {
  const msg = JSON.parse(buf);
  msg.temperature = Math.round(((msg.temperature * 9) / 5) * 10 + 320) / 10;
  msg.site = 'lyon';
  msg.relayed = true;
  client.publish('bench/out', JSON.stringify(msg), { qos });
});
client.on('connect', () => client.subscribe('bench/in', { qos }));
client.on('error', (err) => console.error(err.message));
process.on('SIGTERM', () => client.end(false, {}, () => process.exit(0)));
