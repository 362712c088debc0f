import type { DeviceFields, ParsedEvent } from './events.js';

/**
 * The strings that name a device (EUI, names and ids of the device, application, tenant and
 * profile, the MQTT topic), kept once per device so that every record of the device points at the
 * same strings instead of the fresh copies JSON.parse (or Protobuf decoding) made for each event.
 * A record lives until the sink has stored it (batches, outbox, unacknowledged publishes): under
 * load thousands are in flight and V8 promotes them to old space, where each byte counts until
 * the next full collection. Equal strings are interchangeable, so records are unchanged; a device
 * that changes a field gets the new value (and the cache is updated).
 *
 * Devices of one application, tenant or profile share those strings too (`shared`, at most
 * MAX_SHARED of them), so a cached device costs its object, its name and its topic: about 300
 * bytes, 3 MB for the default maxDevices of 10,000.
 */
export type DeviceIdentity = Pick<
  DeviceFields,
  | 'devEui'
  | 'deviceName'
  | 'applicationId'
  | 'applicationName'
  | 'tenantId'
  | 'tenantName'
  | 'deviceProfileId'
  | 'deviceProfileName'
> & { topic: string };

/** Distinct application, tenant and profile ids and names kept, at most. */
export const MAX_SHARED = 1000;

export class IdentityCache {
  // Insertion order: the first device cached is the first evicted (a cache: a miss costs a copy).
  private readonly identities = new Map<string, DeviceIdentity>();
  private readonly shared = new Map<string, string>();

  constructor(private readonly maxDevices: number) {}

  get size(): number {
    return this.identities.size;
  }

  /** Application, tenant and profile strings kept. */
  get sharedSize(): number {
    return this.shared.size;
  }

  /** Points the event's device strings at the cached ones; returns the topic to keep. */
  intern(e: ParsedEvent, topic: string): string {
    const cached = this.identities.get(e.devEui);
    if (!cached) {
      e.applicationId = this.share(e.applicationId);
      e.applicationName = this.share(e.applicationName);
      e.tenantId = this.share(e.tenantId);
      e.tenantName = this.share(e.tenantName);
      e.deviceProfileId = this.share(e.deviceProfileId);
      e.deviceProfileName = this.share(e.deviceProfileName);
      this.identities.set(e.devEui, {
        devEui: e.devEui,
        deviceName: e.deviceName,
        applicationId: e.applicationId,
        applicationName: e.applicationName,
        tenantId: e.tenantId,
        tenantName: e.tenantName,
        deviceProfileId: e.deviceProfileId,
        deviceProfileName: e.deviceProfileName,
        topic,
      });
      if (this.identities.size > this.maxDevices)
        this.identities.delete(this.identities.keys().next().value as string);
      return topic;
    }
    e.devEui = cached.devEui;
    if (e.deviceName === cached.deviceName) e.deviceName = cached.deviceName;
    else cached.deviceName = e.deviceName;
    if (e.applicationId === cached.applicationId) e.applicationId = cached.applicationId;
    else cached.applicationId = e.applicationId = this.share(e.applicationId);
    if (e.applicationName === cached.applicationName) e.applicationName = cached.applicationName;
    else cached.applicationName = e.applicationName = this.share(e.applicationName);
    if (e.tenantId === cached.tenantId) e.tenantId = cached.tenantId;
    else cached.tenantId = e.tenantId = this.share(e.tenantId);
    if (e.tenantName === cached.tenantName) e.tenantName = cached.tenantName;
    else cached.tenantName = e.tenantName = this.share(e.tenantName);
    if (e.deviceProfileId === cached.deviceProfileId) e.deviceProfileId = cached.deviceProfileId;
    else cached.deviceProfileId = e.deviceProfileId = this.share(e.deviceProfileId);
    if (e.deviceProfileName === cached.deviceProfileName) e.deviceProfileName = cached.deviceProfileName;
    else cached.deviceProfileName = e.deviceProfileName = this.share(e.deviceProfileName);
    if (topic === cached.topic) return cached.topic;
    cached.topic = topic;
    return topic;
  }

  /** The kept copy of an application, tenant or profile string (the first MAX_SHARED seen). */
  private share(value: string | null): string | null {
    if (value === null) return null;
    const kept = this.shared.get(value);
    if (kept !== undefined) return kept;
    if (this.shared.size < MAX_SHARED) this.shared.set(value, value);
    return value;
  }
}
