// yell_metrics.js: metrics of a JavaScript plugin's own, on the host's
// `/metrics` as `yell_plugin_<name>` (a counter's ending in `_total`),
// labelled with the plugin's name and the label values given.
//
//     import { Counter } from '../sdk/yell_metrics.js';
//
//     let refused;
//     export function setup(config) {
//       // In `setup`, not at the top of the module, which runs when the
//       // component is built, where the host cannot be called. A definition
//       // the host refuses (a name taken by another kind) refuses the plugin.
//       refused = Counter.define('refused', 'Lines refused, by reason.', ['reason']);
//     }
//     ...
//     refused.add(['too_long']);
//
// An app that imports this module is built for the `metrics-plugin` world
// (or `stateful-plugin`, which has it too): `world = "metrics-plugin"` in
// its yell-plugin.toml. What a call records counts when the call ends.
// Mistakes trap (the wrong number of label values, `set` on a counter);
// values the metric cannot take record nothing, and the host warns once.

import { define, add, set, observe } from 'yell:plugin/metrics@0.1.0';

function strings(labels) {
  return Array.from(labels, String);
}

/** A count that only goes up. */
export class Counter {
  /** Defines the counter `name` ([a-z][a-z0-9_]*) with its help text and
   * label names. */
  static define(name, help, labels = []) {
    return new Counter(define({ name, help, kind: 'counter', labels: strings(labels), buckets: [] }));
  }

  constructor(metric) {
    this.metric = metric;
  }

  /** Adds `amount` (default 1, not negative) to the series of `labels`. */
  add(labels = [], amount = 1) {
    add(this.metric, strings(labels), Number(amount));
  }
}

/** A level that goes up and down. */
export class Gauge {
  /** Defines the gauge `name` with its help text and label names. */
  static define(name, help, labels = []) {
    return new Gauge(define({ name, help, kind: 'gauge', labels: strings(labels), buckets: [] }));
  }

  constructor(metric) {
    this.metric = metric;
  }

  /** Sets the series of `labels` to `value`. */
  set(labels, value) {
    set(this.metric, strings(labels), Number(value));
  }

  /** Adds `amount` (negative: takes away) to the series of `labels`. */
  add(labels, amount) {
    add(this.metric, strings(labels), Number(amount));
  }
}

/** How observations fall into fixed buckets, with their count and sum. */
export class Histogram {
  /** Defines the histogram `name` with its help text, bucket upper bounds
   * (increasing; the host adds +Inf) and label names. */
  static define(name, help, buckets, labels = []) {
    return new Histogram(
      define({ name, help, kind: 'histogram', labels: strings(labels), buckets: Array.from(buckets, Number) }),
    );
  }

  constructor(metric) {
    this.metric = metric;
  }

  /** Counts `value` into the series of `labels`. */
  observe(labels, value) {
    observe(this.metric, strings(labels), Number(value));
  }
}
