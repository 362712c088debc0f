import type { SimulatorField } from './spec.js';

/** mulberry32: a tiny, fast, seedable PRNG; plenty for plausible test data (not for security). */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type FieldState = (elapsedMs: number) => number | string | boolean;

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/** The generator of one field for one device; it keeps that device's state between messages. */
export function createFieldState(field: SimulatorField, random: () => number): FieldState {
  switch (field.kind) {
    case 'random-walk': {
      const { min, max, decimals } = field;
      const step = field.step ?? (max - min) / 100;
      const centre = field.start ?? (min + max) / 2;
      // Devices start spread over the middle of the range, so they do not all read the same.
      let value = field.start ?? centre + (random() - 0.5) * ((max - min) / 2);
      return () => {
        const current = value;
        // The pull toward the centre keeps a long walk plausible instead of sticking to a bound.
        value += (random() * 2 - 1) * step + (centre - value) * 0.01;
        if (value > max) value = max - (value - max);
        if (value < min) value = min + (min - value);
        // A step wider than the range can overshoot both ways.
        if (value > max || value < min) value = Math.min(max, Math.max(min, value));
        return round(current, decimals);
      };
    }
    case 'sine': {
      const { min, max, period, decimals } = field;
      const phase = random() * 2 * Math.PI;
      const mid = (min + max) / 2;
      const amplitude = (max - min) / 2;
      return (elapsedMs) =>
        round(mid + amplitude * Math.sin((2 * Math.PI * elapsedMs) / period + phase), decimals);
    }
    case 'counter': {
      const { min, max, step, decimals } = field;
      let value = field.start ?? (step > 0 ? min : max);
      return () => {
        const current = value;
        value += step;
        // Restarts at the other end, like a meter rolling over or a battery being replaced.
        if (value > max) value = min;
        else if (value < min) value = max;
        return round(current, decimals);
      };
    }
    case 'constant': {
      const { value } = field;
      return () => value;
    }
  }
}

export interface DeviceState {
  id: string;
  seq: number;
  fields: [name: string, next: FieldState][];
}

export function createDevices(
  count: number,
  fields: Record<string, SimulatorField>,
  random: () => number,
): DeviceState[] {
  const width = Math.max(3, String(count).length);
  const entries = Object.entries(fields);
  const devices: DeviceState[] = [];
  for (let i = 0; i < count; i++) {
    devices.push({
      id: `sim-${String(i + 1).padStart(width, '0')}`,
      seq: 0,
      fields: entries.map(([name, field]) => [name, createFieldState(field, random)]),
    });
  }
  return devices;
}
