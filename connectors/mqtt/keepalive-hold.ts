import type { MqttClient } from 'mqtt';
import type { Inbox } from '../../src/sdk/index.js';

/**
 * Keeps the connection alive while the source holds mqtt.js back (its inbox is full, so no packet
 * is read, PINGRESP included). Without it mqtt.js drops the connection after 1.5 × keepalive
 * ("Keepalive timeout"), and with a clean session the broker then discards every message it
 * queued for us. While held, the broker still gets a PINGREQ every third of the keepalive, and
 * mqtt.js's own timer restarts as often; the answers wait in the socket and are read on release.
 * A broker that died meanwhile is seen once reading resumes: its socket error or keepalive then.
 */
export function keepAliveWhileHeld(client: MqttClient, release: Promise<unknown>): void {
  const keepaliveMs = (client.options.keepalive ?? 0) * 1000;
  if (keepaliveMs <= 0) return;
  const timer = setInterval(
    () => {
      if (!client.connected) return;
      client.sendPing();
      client.reschedulePing(true);
    },
    Math.max(100, Math.floor(keepaliveMs / 3)),
  );
  timer.unref();
  void release.finally(() => clearInterval(timer));
}

/**
 * Gives the packet back to mqtt.js (`done`) at once, or, when the inbox is full, once it has room:
 * mqtt.js reads nothing meanwhile, so TCP backpressure reaches the broker; the connection is kept
 * alive while held.
 */
export function releaseWhenRoom(inbox: Inbox, client: MqttClient | undefined, done: () => void): void {
  if (!inbox.full) return done();
  const room = inbox.whenSpace().then(() => done());
  if (client) keepAliveWhileHeld(client, room);
}
