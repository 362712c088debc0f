import { randomInt } from 'node:crypto';
import { DateTime } from 'luxon';
import ngeohash from 'ngeohash';
import type { Message, Transform, TransformContext } from '../../sdk/index.js';
import {
  copyObject,
  describeValue,
  editPath,
  isContainer,
  notContainerReason,
  type FieldVisitor,
} from '../shared/field-paths.js';
import type { GeneralizeTransformConfig } from './spec.js';
import { FieldError, eachMessage } from '../shared/each-message.js';

type Truncation = 'second' | 'minute' | 'hour' | 'day';
const FIXED_MS: Record<Exclude<Truncation, 'day'>, number> = {
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
};

/** Coarsens values so that exact readings, places and times can not be read off the stream. */
export class GeneralizeTransform implements Transform {
  private readonly lookInside: boolean;
  private readonly zone: string;
  private readonly numbers: (GeneralizeTransformConfig['numbers'][number] & { scale: number })[];

  constructor(private readonly config: GeneralizeTransformConfig) {
    this.lookInside = config.numbers.length + config.locations.length + config.timestamps.length > 0;
    this.zone = config.timeZone;
    this.numbers = config.numbers.map((n) => ({ ...n, scale: 10 ** decimalsOf(n.step) }));
  }

  apply(batch: Message[], ctx: TransformContext): Message[] {
    return eachMessage(batch, ctx, 'generalize', FieldError, (message) => this.one(message));
  }

  private one(message: Message): Message {
    const missing = (at: string): void => {
      if (this.config.missing === 'reject') throw new FieldError(`${at} is missing`);
    };
    const notContainer = (at: string, value: unknown, wanted: string): void => {
      throw new FieldError(notContainerReason(at, value, wanted));
    };
    let payload = message.payload;
    if (this.lookInside && !isContainer(payload))
      throw new FieldError(
        `the payload is ${describeValue(payload)}, not a JSON object or array, so its fields can not be generalized: decode it first (e.g. the MQTT source's payload: json)`,
      );
    for (const { path, step, scale } of this.numbers) {
      payload = editPath(payload, path, {
        found: (value, at) => roundToStep(finite(value, at), step, scale),
        missing,
        notContainer,
      });
    }
    for (const location of this.config.locations) {
      const visitor: FieldVisitor = {
        found: (value, at) => this.location(value, at, location, missing),
        missing,
        notContainer,
      };
      payload = editPath(payload, location.at, visitor);
    }
    for (const { path, truncate, unit } of this.config.timestamps) {
      payload = editPath(payload, path, {
        found: (value, at) => this.timestamp(value, at, truncate, unit),
        missing,
        notContainer,
      });
    }
    let time = message.time;
    const generalizeTime = this.config.time;
    if (generalizeTime) {
      if (generalizeTime.truncate) time = this.truncate(time, generalizeTime.truncate);
      if (generalizeTime.jitter) time += randomInt(0, Math.max(1, generalizeTime.jitter));
    }
    return { id: message.id, payload, meta: message.meta, time };
  }

  private location(
    value: unknown,
    at: string,
    location: GeneralizeTransformConfig['locations'][number],
    missing: (at: string) => void,
  ): unknown {
    if (!isContainer(value) || Array.isArray(value))
      throw new FieldError(`${at} is ${describeValue(value)}, not an object with coordinates`);
    const hasLat = Object.hasOwn(value, location.latitude);
    const hasLon = Object.hasOwn(value, location.longitude);
    if (!hasLat || !hasLon) {
      missing(`${at}.${hasLat ? location.longitude : location.latitude}`);
      // Half a coordinate is still a place: never pass one on unchanged.
      if (hasLat || hasLon)
        throw new FieldError(`${at} has only one of ${location.latitude} and ${location.longitude}`);
      return value;
    }
    const lat = finite(value[location.latitude], `${at}.${location.latitude}`);
    const lon = finite(value[location.longitude], `${at}.${location.longitude}`);
    if (lat < -90 || lat > 90) throw new FieldError(`${at}.${location.latitude} is ${lat}, outside -90..90`);
    if (lon < -180 || lon > 180)
      throw new FieldError(`${at}.${location.longitude} is ${lon}, outside -180..180`);
    let coarse: [number, number];
    if (location.geohash !== undefined) {
      const centre = ngeohash.decode(ngeohash.encode(lat, lon, location.geohash));
      coarse = [centre.latitude, centre.longitude];
    } else {
      const decimals = location.decimals ?? 0;
      coarse = [roundToDecimals(lat, decimals), roundToDecimals(lon, decimals)];
    }
    const copy = copyObject(value);
    copy[location.latitude] = coarse[0];
    copy[location.longitude] = coarse[1];
    return copy;
  }

  private timestamp(value: unknown, at: string, truncate: Truncation, unit: 'ms' | 's'): unknown {
    if (typeof value === 'number') {
      const ms = finite(value, at) * (unit === 's' ? 1000 : 1);
      const truncated = this.truncate(ms, truncate);
      return unit === 's' ? truncated / 1000 : truncated;
    }
    if (typeof value !== 'string')
      throw new FieldError(
        `${at} is ${describeValue(value)}, not a timestamp (an ISO 8601 string or a number)`,
      );
    if (value.length > 64)
      throw new FieldError(`${at} is a string of ${value.length} characters, not a timestamp`);
    const parsed = DateTime.fromISO(value, { zone: this.zone, setZone: true });
    if (!parsed.isValid)
      throw new FieldError(`${at}: ${parsed.invalidExplanation ?? 'not an ISO 8601 timestamp'}`);
    const truncated = parsed.setZone(this.zone).startOf(truncate).setZone(parsed.zone);
    // Same shape as the input: an offset only if it had one (a local time is read in timeZone).
    return truncated.toISO({
      suppressMilliseconds: true,
      includeOffset: /(?:Z|[+-]\d\d:?\d\d)$/i.test(value),
    });
  }

  private truncate(ms: number, unit: Truncation): number {
    if (unit !== 'day' && this.zone === 'UTC') return Math.floor(ms / FIXED_MS[unit]) * FIXED_MS[unit];
    return DateTime.fromMillis(ms, { zone: this.zone }).startOf(unit).toMillis();
  }
}

function finite(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new FieldError(`${at} is ${describeValue(value)}, not a finite number`);
  return value;
}

/** Decimal places of a step as written (0.25 -> 2, 1e-7 -> 7), to give the result without float noise. */
function decimalsOf(step: number): number {
  const [mantissa = '', exponent = '0'] = String(step).split('e');
  const fraction = mantissa.split('.')[1]?.length ?? 0;
  return Math.min(100, Math.max(0, fraction - Number(exponent)));
}

/**
 * `x` rounded to an integer, halves away from zero, as written in decimal: 0.35 / 0.1 is
 * 3.4999999999999996 in binary, and 15 significant digits give back the 3.5 the user wrote (only
 * computed near a half: the string round trip costs more than the rest).
 */
function roundHalfAway(x: number): number {
  const a = Math.abs(x);
  const nearHalf = Math.abs(a - Math.floor(a) - 0.5) < 1e-6;
  return Math.sign(x) * Math.round(nearHalf ? Number(a.toPrecision(15)) : a);
}

/** Nearest multiple of step, halves away from zero. */
export function roundToStep(value: number, step: number, scale = 10 ** decimalsOf(step)): number {
  const n = roundHalfAway(value / step);
  if (!Number.isFinite(n)) return value;
  // n * step has binary noise (3 * 0.1 = 0.30000000000000004): back to the step's decimals.
  const rounded = scale === 1 ? n * step : Math.round(n * step * scale) / scale;
  return rounded === 0 ? 0 : rounded; // no -0
}

/** Rounds to decimal places (2.675 -> 2.68, as written, not as stored in binary), halves away from zero. */
export function roundToDecimals(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  const n = roundHalfAway(value * scale);
  if (!Number.isFinite(n)) return value;
  const rounded = n / scale;
  return rounded === 0 ? 0 : rounded;
}
