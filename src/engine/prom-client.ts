import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

const require = createRequire(import.meta.url);

/*
 * prom-client's classes from their own modules (the same module instances as its entry point's):
 * the entry point also loads the Pushgateway (node's https and zlib), the Summary and the cluster
 * aggregator (node's cluster), which passerelle never uses, into every service (issue 17).
 * prom-client has no `exports` map, so these paths are its files; the version is pinned, and
 * prom-client.test.ts checks that they are the entry point's classes.
 */
export const Registry = require('prom-client/lib/registry') as typeof Prom.Registry;
export type Registry = Prom.Registry;
export const Counter = require('prom-client/lib/counter') as typeof Prom.Counter;
export type Counter<T extends string = string> = Prom.Counter<T>;
export const Gauge = require('prom-client/lib/gauge') as typeof Prom.Gauge;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export const Histogram = require('prom-client/lib/histogram') as typeof Prom.Histogram;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
export type HistogramConfiguration<T extends string> = Prom.HistogramConfiguration<T>;
export const collectDefaultMetrics =
  require('prom-client/lib/defaultMetrics') as typeof Prom.collectDefaultMetrics;
