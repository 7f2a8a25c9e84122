// testing.mjs: unit tests of a JavaScript plugin under Node.js (`node
// --test`), no component build. `TestHost` loads the app module as the
// host does (`init`) and sends lines through the SDK's own batch code
// (`plugin(app).transformBatch`), with the host's imports answered by
// fake_host.mjs: log lines kept (`takeLogs()`), connection addresses set
// with `setPeer`; state and metrics by fake_state.mjs and fake_metrics.mjs
// (`state`, `metrics` below). Apps are loaded with `TestHost.load(url)` and the SDK's
// functions taken from `sdk` below, after the fake host is in place.
//
//     import { test } from 'node:test';
//     import assert from 'node:assert/strict';
//     import { TestHost } from '../sdk/testing.mjs';
//
//     test('shouts', async () => {
//       const host = await TestHost.load(new URL('./app.js', import.meta.url));
//       assert.deepEqual(host.line('hi'), ['HI']);
//     });

import { register } from 'node:module';

register('./fake_host_loader.mjs', import.meta.url);

const { logs, connections } = await import('./fake_host.mjs');

/** The fake store (`grantBucket(name)`, `value(bucket, key)`,
 * `resetState()`) and the fake metrics (`metricValue(name, labels)`,
 * `observed(name, labels)`, `resetMetrics()`) a test sets up and reads. */
export const state = await import('./fake_state.mjs');
export const metrics = await import('./fake_metrics.mjs');

/** yell_state.js and yell_metrics.js, loaded once the host's imports
 * resolve to the fakes, like `sdk`. */
export const stateSdk = await import('./yell_state.js');
export const metricsSdk = await import('./yell_metrics.js');

/** The SDK (yell_plugin.js), loaded once the host's imports resolve to the
 * fake host. A test imports it from here, and loads an app module with
 * `TestHost.load` (not a static import, which would be resolved before
 * the fake host is in place). */
export const sdk = await import('./yell_plugin.js');
const { plugin } = sdk;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function split(bytes) {
  const text = decoder.decode(bytes);
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

export class TestHost {
  /** Loads the app module at `url` (a path or URL) with `config`. */
  static async load(url, config = {}) {
    const app = await import(url instanceof URL ? url.href : new URL(url, `file://${process.cwd()}/`).href);
    return new TestHost(app, config);
  }

  constructor(app, config = {}) {
    this.exports = plugin(app);
    this.conn = 1n;
    try {
      this.exports.init(Object.entries(config));
    } catch (refused) {
      // The binding's error is a string; a test gets an Error.
      throw new Error(`the plugin refused its configuration: ${refused}`);
    }
    this.setPeer('127.0.0.1:40000');
  }

  /** What the current connection's addresses are. */
  setPeer(peer, local = '127.0.0.1:1234') {
    connections.set(this.conn, { peer, local });
  }

  /** A new connection opens: its greeting lines. */
  connect() {
    const previous = connections.get(this.conn);
    connections.delete(this.conn);
    this.conn += 1n;
    if (previous) connections.set(this.conn, previous);
    return split(this.exports.connectionOpened(this.conn));
  }

  /** The connection closes: its last words. */
  close() {
    return split(this.exports.connectionClosed(this.conn));
  }

  /** One line's reply lines (as strings); throws the error a refused
   * line is answered with. */
  line(line) {
    const [result] = this.lines([line]);
    if (result instanceof Error) throw result;
    return result;
  }

  /** Lines in one batch, as the host sends them: each one's reply lines,
   * or an Error with its message. A reply that breaks the contract
   * throws, as the host would refuse it. */
  lines(lines) {
    const parts = lines.map((line) => (typeof line === 'string' ? encoder.encode(line) : line));
    const size = parts.reduce((sum, part) => sum + part.length + 1, 0);
    const batch = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      batch.set(part, at);
      at += part.length;
      batch[at++] = 10;
    }
    const reply = this.exports.transformBatch(this.conn, batch);
    if (reply.ends.length !== lines.length) throw new Error('the reply has not one line end per line');
    const results = [];
    let start = 0;
    for (const end of reply.ends) {
      if (end < start || end > reply.output.length) throw new Error('line ends out of order or past the output');
      results.push(split(reply.output.subarray(start, end)));
      start = end;
    }
    for (const error of reply.errors) results[error.line] = new Error(error.message);
    return results;
  }

  /** What the plugin logged since the last look (`"info: message"`). */
  takeLogs() {
    return logs.splice(0, logs.length);
  }
}
