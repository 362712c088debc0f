import { Counter, Gauge, Histogram, Registry } from '../prom-client.js';

/**
 * Metrics of scheduled pipelines; one instance per registry, shared by every scheduler of the
 * process (pass it as `metrics` to createScheduler). The timestamps are the schedule's, read back
 * from Redis, so every replica exports the same last success: alert on `max by (pipeline)`.
 */
export class ScheduleMetrics {
  readonly runs: Counter<'pipeline' | 'outcome'>;
  readonly lastSuccess: Gauge<'pipeline'>;
  readonly duration: Histogram<'pipeline'>;
  readonly missed: Counter<'pipeline' | 'policy'>;
  readonly nextTick: Gauge<'pipeline'>;
  readonly period: Gauge<'pipeline'>;

  constructor(readonly registry = new Registry()) {
    const registers = [registry];
    this.runs = new Counter({
      name: 'passerelle_schedule_runs_total',
      help: 'Run attempts of scheduled pipelines by outcome: completed, retried (failed, will run again), failed (no attempt left).',
      labelNames: ['pipeline', 'outcome'],
      registers,
    });
    this.lastSuccess = new Gauge({
      name: 'passerelle_schedule_last_success_timestamp_seconds',
      help: 'When the last completed run of the schedule finished (any replica), seconds since the epoch.',
      labelNames: ['pipeline'],
      registers,
    });
    this.duration = new Histogram({
      name: 'passerelle_schedule_run_duration_seconds',
      help: 'Duration of run attempts of scheduled pipelines (completed or failed) on this replica.',
      labelNames: ['pipeline'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
      registers,
    });
    this.missed = new Counter({
      name: 'passerelle_schedule_missed_ticks_total',
      help: 'Ticks not started on time (no replica running, or too late): `run-once` ran the latest of them late, `skip` none.',
      labelNames: ['pipeline', 'policy'],
      registers,
    });
    this.nextTick = new Gauge({
      name: 'passerelle_schedule_next_tick_timestamp_seconds',
      help: 'When the next tick of the schedule is due, seconds since the epoch.',
      labelNames: ['pipeline'],
      registers,
    });
    this.period = new Gauge({
      name: 'passerelle_schedule_period_seconds',
      help: 'Time between two ticks of the schedule (the next two), for the stale-schedule alert.',
      labelNames: ['pipeline'],
      registers,
    });
  }

  /** Forgets a pipeline's series (it was removed or its schedule changed). */
  remove(pipeline: string): void {
    for (const m of [this.lastSuccess, this.duration, this.nextTick, this.period]) m.remove({ pipeline });
  }
}
