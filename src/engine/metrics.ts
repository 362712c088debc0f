import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of all pipelines. The counters reconcile, per pipeline and sink:
 *   received + replayed + generated = delivered{sink} + filtered + dead_lettered{stage!=other sinks} + dropped + in_flight{sink}
 * (with one sink and no replays: received = delivered + filtered + dead_lettered + dropped + in_flight).
 */
export class EngineMetrics {
  readonly registry: Registry;
  readonly received: Counter<'pipeline'>;
  readonly filtered: Counter<'pipeline' | 'component'>;
  readonly deadLettered: Counter<'pipeline' | 'stage'>;
  readonly dropped: Counter<'pipeline' | 'component' | 'reason'>;
  readonly delivered: Counter<'pipeline' | 'sink'>;
  readonly inFlight: Gauge<'pipeline' | 'sink'>;
  readonly outboxDepth: Gauge<'pipeline' | 'sink'>;
  readonly connected: Gauge<'pipeline' | 'component' | 'type'>;
  readonly reconnects: Counter<'pipeline' | 'component'>;
  readonly retries: Counter<'pipeline' | 'sink'>;
  readonly deadLettersEvicted: Counter<'pipeline' | 'cause'>;
  readonly enqueueFailures: Counter<'pipeline' | 'sink'>;
  readonly deliveryLatency: Histogram<'pipeline' | 'sink'>;
  readonly replayed: Counter<'pipeline'>;
  readonly generated: Counter<'pipeline' | 'component'>;

  constructor(registry = new Registry()) {
    this.registry = registry;
    const r = [registry];
    this.received = new Counter({
      name: 'passerelle_messages_received_total',
      help: 'Messages read from the source (including undecodable ones).',
      labelNames: ['pipeline'],
      registers: r,
    });
    this.filtered = new Counter({
      name: 'passerelle_messages_filtered_total',
      help: 'Messages removed on purpose by a transform.',
      labelNames: ['pipeline', 'component'],
      registers: r,
    });
    this.deadLettered = new Counter({
      name: 'passerelle_messages_dead_lettered_total',
      help: 'Messages moved to the dead letters, by the stage where they failed.',
      labelNames: ['pipeline', 'stage'],
      registers: r,
    });
    this.dropped = new Counter({
      name: 'passerelle_messages_dropped_total',
      help: 'Messages dropped by a policy (never silently).',
      labelNames: ['pipeline', 'component', 'reason'],
      registers: r,
    });
    this.delivered = new Counter({
      name: 'passerelle_messages_delivered_total',
      help: 'Messages written by a sink.',
      labelNames: ['pipeline', 'sink'],
      registers: r,
    });
    this.inFlight = new Gauge({
      name: 'passerelle_messages_in_flight',
      help: 'Messages received and not yet settled for this sink (in transforms or in its outbox).',
      labelNames: ['pipeline', 'sink'],
      registers: r,
    });
    this.outboxDepth = new Gauge({
      name: 'passerelle_outbox_depth',
      help: 'Messages stored in the sink outbox and not yet settled.',
      labelNames: ['pipeline', 'sink'],
      registers: r,
    });
    this.connected = new Gauge({
      name: 'passerelle_component_connected',
      help: '1 when the source or sink is connected.',
      labelNames: ['pipeline', 'component', 'type'],
      registers: r,
    });
    this.reconnects = new Counter({
      name: 'passerelle_reconnects_total',
      help: 'Connections lost by a source or sink.',
      labelNames: ['pipeline', 'component'],
      registers: r,
    });
    this.retries = new Counter({
      name: 'passerelle_sink_retries_total',
      help: 'Batch write attempts that failed and were retried.',
      labelNames: ['pipeline', 'sink'],
      registers: r,
    });
    this.deadLettersEvicted = new Counter({
      name: 'passerelle_dead_letters_evicted_total',
      help: 'Dead letters removed by the retention limits (cause: maxAge, maxCount or maxBytes).',
      labelNames: ['pipeline', 'cause'],
      registers: r,
    });
    this.enqueueFailures = new Counter({
      name: 'passerelle_outbox_enqueue_failures_total',
      help: 'Failed attempts to store a batch in the outbox (e.g. Redis unreachable); retried.',
      labelNames: ['pipeline', 'sink'],
      registers: r,
    });
    this.replayed = new Counter({
      name: 'passerelle_messages_replayed_total',
      help: 'Dead letters re-driven on request; they count again in the other counters (add this to received).',
      labelNames: ['pipeline'],
      registers: r,
    });
    this.generated = new Counter({
      name: 'passerelle_messages_generated_total',
      help: 'Messages a transform emitted on its own (closed aggregate windows); they count like received ones (add this to received).',
      labelNames: ['pipeline', 'component'],
      registers: r,
    });
    this.deliveryLatency = new Histogram({
      name: 'passerelle_delivery_latency_seconds',
      help: 'From the message time (receipt by the source, or the source timestamp) to the sink write completing.',
      labelNames: ['pipeline', 'sink'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: r,
    });
  }
}
