import type { MqttClient, Packet } from 'mqtt';

const ACKS = new Set<Packet['cmd']>(['puback', 'pubrec', 'pubcomp']);

/**
 * Keeps the acknowledgements of a broker with Nagle's algorithm on (Mosquitto's default, without
 * `set_tcp_nodelay true`) coming. Such a broker holds a small packet while an earlier one is not
 * acknowledged by our TCP stack, and Linux delays that acknowledgement ~40 ms unless we send
 * something. While publishing, each publish carries it; but once there is nothing to publish (the
 * end of a batch, a full window) and answers are still due, the broker and we wait for each other:
 * every batch of the MQTT sink paid ~40 ms. So: when a packet from the broker leaves answers due
 * and we sent nothing in the same turn, send a PINGREQ (allowed at any time, MQTT 3.1.1 and 5
 * §3.12), which carries our acknowledgement at once. Only after an acknowledgement came since the
 * previous PINGREQ: a broker that answers nothing gets no stream of pings.
 */
export function nudgeAcknowledgements(client: MqttClient): void {
  let sent = 0;
  let progress = false;
  let scheduled = false;
  client.on('packetsend', () => sent++);
  client.on('packetreceive', (packet) => {
    if (ACKS.has(packet.cmd)) progress = true;
    if (scheduled || !progress) return;
    scheduled = true;
    const before = sent;
    // After mqtt.js has handled what came in this turn (the callbacks that publish more).
    setImmediate(() => {
      scheduled = false;
      if (sent !== before || !progress || !client.connected || !awaitsAnswers(client)) return;
      progress = false;
      client.sendPing();
    });
  });
}

/** Publishes (and subscriptions) that mqtt.js still waits an answer for. */
function awaitsAnswers(client: MqttClient): boolean {
  for (const _ in client.outgoing) return true;
  return false;
}
