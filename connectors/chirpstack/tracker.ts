import type { ComponentGauge, ComponentMetrics } from '../../src/sdk/index.js';
import type { Gateway } from './events.js';

/**
 * Per-source state: duplicate detection within a time window, and per-device frame counters and
 * metrics, bounded in size. Every change returns an undo, so an event whose delivery failed (and
 * that the broker will send again) leaves no trace.
 */

export type Undo = () => void;

/** Remembers event keys for `windowMs`, at most `maxEntries` of them (the oldest go first). */
export class Deduplicator {
  // Insertion order is expiry order: entries are added with now + window and now never goes back much.
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  /** Undo when the key is new (and now remembered); undefined for a duplicate. */
  admit(key: string, now: number): Undo | undefined {
    if (this.windowMs <= 0) return () => {};
    this.prune(now);
    const expiry = this.seen.get(key);
    if (expiry !== undefined && expiry > now) return undefined;
    this.seen.delete(key);
    this.seen.set(key, now + this.windowMs);
    return () => this.seen.delete(key);
  }

  private prune(now: number): void {
    for (const [key, expiry] of this.seen) {
      if (expiry > now && this.seen.size < this.maxEntries) break;
      this.seen.delete(key);
    }
  }
}

interface DeviceState {
  fCnt: number | undefined;
  uplinks: number;
  lost: number;
  resets: number;
  lastSeen: number;
  rssi: number | undefined;
  snr: number | undefined;
}

export interface UplinkOutcome {
  /** Uplinks missing between the previous frame counter and this one. */
  fCntGap: number;
  /** The frame counter went back: the device rejoined or restarted. */
  fCntReset: boolean;
  undo: Undo;
}

/** How many devices get metric series: `deviceMetrics` is off, on (1,000) or a number. */
export function metricDevices(setting: boolean | number): number {
  return setting === true ? 1_000 : setting === false ? 0 : setting;
}

export class DeviceTracker {
  private readonly devices = new Map<string, DeviceState>();
  /** Devices with metric series, at most `maxMetricDevices` (opt-in: six series per device). */
  private readonly exported = new Set<string>();
  private readonly gauges: Record<
    'lastSeen' | 'uplinks' | 'lost' | 'resets' | 'rssi' | 'snr',
    ComponentGauge
  >;

  constructor(
    private readonly maxDevices: number,
    metrics: ComponentMetrics,
    private readonly maxMetricDevices = 0,
  ) {
    const g = (name: string, help: string) => metrics.gauge(name, help, ['devEui']);
    this.gauges = {
      lastSeen: g(
        'passerelle_chirpstack_device_last_seen_seconds',
        'Time of the last event of the device (Unix seconds).',
      ),
      uplinks: g(
        'passerelle_chirpstack_device_uplinks',
        'Uplinks received from the device since it is tracked.',
      ),
      lost: g('passerelle_chirpstack_device_lost_uplinks', 'Uplinks missing from frame counter gaps.'),
      resets: g(
        'passerelle_chirpstack_device_fcnt_resets',
        'Frame counter resets (rejoin, restart) of the device.',
      ),
      rssi: g('passerelle_chirpstack_device_rssi_dbm', 'RSSI of the best gateway for the last uplink (dBm).'),
      snr: g('passerelle_chirpstack_device_snr_db', 'SNR of the best gateway for the last uplink (dB).'),
    };
  }

  get size(): number {
    return this.devices.size;
  }

  state(devEui: string): Readonly<DeviceState> | undefined {
    return this.devices.get(devEui);
  }

  /** Any event: the device was seen. */
  seen(devEui: string, time: number): Undo {
    const { state, undo } = this.touch(devEui);
    state.lastSeen = Math.max(state.lastSeen, time);
    this.export(devEui, state);
    return undo;
  }

  uplink(devEui: string, fCnt: number, time: number, gateway: Gateway | null): UplinkOutcome {
    const { state, undo } = this.touch(devEui);
    let fCntGap = 0;
    let fCntReset = false;
    if (state.fCnt !== undefined) {
      if (fCnt > state.fCnt + 1) fCntGap = fCnt - state.fCnt - 1;
      else if (fCnt < state.fCnt) fCntReset = true;
    }
    state.fCnt = fCnt;
    state.uplinks++;
    state.lost += fCntGap;
    if (fCntReset) state.resets++;
    state.lastSeen = Math.max(state.lastSeen, time);
    state.rssi = gateway?.rssi;
    state.snr = gateway?.snr;
    this.export(devEui, state);
    return { fCntGap, fCntReset, undo };
  }

  /** The device's state, created or moved to the most recent end; undo puts the previous state back. */
  private touch(devEui: string): { state: DeviceState; undo: Undo } {
    const previous = this.devices.get(devEui);
    const before = previous ? { ...previous } : undefined;
    const state: DeviceState = previous ?? {
      fCnt: undefined,
      uplinks: 0,
      lost: 0,
      resets: 0,
      lastSeen: 0,
      rssi: undefined,
      snr: undefined,
    };
    this.devices.delete(devEui);
    this.devices.set(devEui, state);
    if (!previous) this.evict();
    const undo = () => {
      const current = this.devices.get(devEui);
      if (!current) return;
      if (before) {
        Object.assign(current, before);
        this.export(devEui, current);
      } else {
        this.devices.delete(devEui);
        this.unexport(devEui);
      }
    };
    return { state, undo };
  }

  private evict(): void {
    while (this.devices.size > this.maxDevices) {
      const oldest = this.devices.keys().next().value as string;
      this.devices.delete(oldest);
      this.unexport(oldest);
    }
  }

  private export(devEui: string, s: DeviceState): void {
    if (!this.exported.has(devEui)) {
      if (this.exported.size >= this.maxMetricDevices) return;
      this.exported.add(devEui);
    }
    const labels = { devEui };
    this.gauges.lastSeen.set(labels, Math.round(s.lastSeen / 1000));
    this.gauges.uplinks.set(labels, s.uplinks);
    this.gauges.lost.set(labels, s.lost);
    this.gauges.resets.set(labels, s.resets);
    if (s.rssi !== undefined) this.gauges.rssi.set(labels, s.rssi);
    if (s.snr !== undefined) this.gauges.snr.set(labels, s.snr);
  }

  private unexport(devEui: string): void {
    if (!this.exported.delete(devEui)) return;
    for (const gauge of Object.values(this.gauges)) gauge.remove({ devEui });
  }
}
