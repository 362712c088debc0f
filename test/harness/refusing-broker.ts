import { createServer } from 'node:net';
import { Aedes } from 'aedes';

/**
 * An in-process MQTT broker (Aedes) that refuses subscriptions to filters starting with
 * `refusedPrefix` with a SUBACK failure code (0x80). Mosquitto grants every subscription and
 * filters on delivery, so it cannot show how a client handles a refusal.
 */
export async function startRefusingBroker(
  refusedPrefix: string,
): Promise<{ url: string; close(): Promise<void> }> {
  const aedes = await Aedes.createBroker({
    // A null subscription is a SUBACK failure code; an error would close the connection.
    authorizeSubscribe: (_client, sub, done) => done(null, sub.topic.startsWith(refusedPrefix) ? null : sub),
  });
  const server = createServer(aedes.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
