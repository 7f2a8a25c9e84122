// fake_metrics.mjs: the host's `yell:plugin/metrics` answered under
// Node.js, for a plugin's unit tests: what the plugin records is kept, and
// read back with `metricValue` (a counter's or gauge's value) and
// `observed` (a histogram's observations). The mistakes the host traps on
// throw here.

const defined = [];

function find(name) {
  return defined.find((metric) => metric.name === name);
}

/** The value of counter or gauge `name` for `labels`, or undefined. */
export function metricValue(name, labels = []) {
  const series = find(name)?.series.get(JSON.stringify(labels.map(String)));
  return series === undefined ? undefined : series[0];
}

/** What histogram `name` observed for `labels`, in order. */
export function observed(name, labels = []) {
  return find(name)?.series.get(JSON.stringify(labels.map(String))) ?? [];
}

/** Forgets every metric. */
export function resetMetrics() {
  defined.length = 0;
}

export function define(definition) {
  const { name, help, kind, labels, buckets } = definition;
  if (!/^[a-z][a-z0-9_]*$/.test(name)) {
    throw new Error(`metric ${JSON.stringify(name)}: a name is [a-z][a-z0-9_]*`);
  }
  if (!String(help).trim()) {
    throw new Error(`metric ${JSON.stringify(name)}: a metric needs a help text`);
  }
  if ((kind === 'histogram') !== (buckets.length > 0)) {
    throw new Error(`metric ${JSON.stringify(name)}: a histogram has bucket bounds, a counter or a gauge none`);
  }
  const index = defined.findIndex((metric) => metric.name === name);
  if (index >= 0) {
    const had = defined[index];
    if (had.kind !== kind || JSON.stringify(had.labels) !== JSON.stringify(labels)) {
      throw new Error(`metric ${JSON.stringify(name)}: already defined as a ${had.kind}, here as a ${kind}`);
    }
    return index;
  }
  defined.push({ name, kind, labels, buckets, series: new Map() });
  return defined.length - 1;
}

function record(index, labels, value, operation) {
  const metric = defined[index];
  if (metric === undefined) {
    throw new Error(`metrics: no metric ${index} was defined`);
  }
  const allowed = { counter: ['add'], gauge: ['add', 'set'], histogram: ['observe'] }[metric.kind];
  if (!allowed.includes(operation)) {
    throw new Error(`metric ${JSON.stringify(metric.name)} is a ${metric.kind}: it has no \`${operation}\``);
  }
  if (labels.length !== metric.labels.length) {
    throw new Error(`metric ${JSON.stringify(metric.name)} has labels ${metric.labels.join(', ')}`);
  }
  if (metric.kind === 'counter' && !(Number.isFinite(value) && value >= 0)) {
    return; // The host records nothing, and warns.
  }
  const key = JSON.stringify(labels);
  const series = metric.series.get(key) ?? [];
  if (operation === 'observe') {
    series.push(value);
  } else if (operation === 'set' || series.length === 0) {
    series[0] = value;
  } else {
    series[0] += value;
  }
  metric.series.set(key, series);
}

export function add(index, labels, amount) {
  record(index, labels, amount, 'add');
}

export function set(index, labels, value) {
  record(index, labels, value, 'set');
}

export function observe(index, labels, value) {
  record(index, labels, value, 'observe');
}
