import type { ScheduleOptions } from '../../config/pipeline-schema.js';

/** What `passerelle validate` says about a schedule run without Redis. */
export function scheduleCaveats(
  schedule: ScheduleOptions | undefined,
  redisUrl: string | undefined,
): string[] {
  if (!schedule || redisUrl) return [];
  return [
    '  schedule: no Redis (--redis or PASSERELLE_REDIS_URL): the schedule runs in this process only. Ticks due while it is down are not known (not run, not counted, whatever `missed` says), and two processes with this pipeline would both run every tick.',
  ];
}
