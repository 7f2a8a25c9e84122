// The JavaScript SDK under Node.js: plugins through the SDK's batch code
// with the fake host (`node --test` in this folder).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { TestHost, metrics, metricsSdk, sdk, state, stateSdk } from './testing.mjs';

const { info, peer } = sdk;

let greeting;
const shout = {
  setup(config) {
    greeting = config.greeting;
  },
  transform(line, conn) {
    const text = new TextDecoder().decode(line);
    if (text === '') throw new Error('nothing to shout');
    if (text === 'who') {
      info('asked who');
      return peer(conn) ?? 'nobody';
    }
    if (text.startsWith('split ')) return text.slice(6).split(' ');
    if (text === 'drop') return null;
    if (text === 'bug') return undefinedFunction();
    return text.toUpperCase();
  },
  greet() {
    return greeting ? [greeting] : [];
  },
};

test('replies, errors, logs and addresses', () => {
  const host = new TestHost(shout);
  assert.deepEqual(host.line('hi'), ['HI']);
  const [dropped, split, refused] = host.lines(['drop', 'split a b', '']);
  assert.deepEqual([dropped, split], [[], ['a', 'b']]);
  assert.equal(refused.message, 'nothing to shout');
  host.setPeer('203.0.113.9:4000');
  assert.deepEqual(host.line('who'), ['203.0.113.9:4000']);
  assert.deepEqual(host.takeLogs(), ['info: asked who']);
});

test('a bug logs its stack once and a refusal none', () => {
  const host = new TestHost(shout);
  const results = host.lines(['bug', 'bug', '']);
  assert.ok(results.every((result) => result instanceof Error));
  const logs = host.takeLogs();
  assert.equal(logs.length, 1, logs.join('\n'));
  assert.match(logs[0], /^warn: transform threw ReferenceError: undefinedFunction is not defined/);
  assert.match(logs[0], /transform@|at transform|testing\.test\.mjs/);
});

test('configuration and greetings', () => {
  assert.deepEqual(new TestHost(shout, { greeting: 'hello' }).connect(), ['hello']);
});

test('the uppercase plugin', async () => {
  const host = await TestHost.load(new URL('../uppercase/app.js', import.meta.url));
  assert.deepEqual(host.lines(['café ok', 'x']), [['CAFé OK'], ['X']]);
  assert.throws(() => new TestHost({ transform: (line) => line }, { loud: 'yes' }), /unknown config key `loud`/);
});

test('state and metrics go to the fake host', () => {
  const { Bucket, StateError } = stateSdk;
  const { Counter, Histogram } = metricsSdk;
  state.resetState();
  metrics.resetMetrics();
  state.grantBucket('hits');
  const counted = Counter.define('counted', 'Lines counted.', ['verb']);
  const sizes = Histogram.define('line_bytes', 'Line sizes.', [1, 10]);
  const host = new TestHost({
    transform(line) {
      const bucket = Bucket.open('hits');
      const text = new TextDecoder().decode(line);
      if (text === 'secret') return Bucket.open('secret') && 'opened';
      sizes.observe([], line.length);
      if (text === 'last') return new TextDecoder().decode(bucket.update('last', () => 'seen'));
      counted.add([text]);
      return `${bucket.increment('count', 1n)}`;
    },
  });
  assert.deepEqual(host.line('count'), ['1']);
  assert.deepEqual(host.line('count'), ['2']);
  assert.deepEqual(host.line('last'), ['seen']);
  assert.equal(new TextDecoder().decode(state.value('hits', 'count')), '2');
  assert.equal(metrics.metricValue('counted', ['count']), 2);
  assert.deepEqual(metrics.observed('line_bytes', []), [5, 5, 4]);
  const [refused] = host.lines(['secret']);
  assert.match(refused.message, /access denied/);
  assert.throws(() => Bucket.open('secret'), (error) => error instanceof StateError && error.kind === 'access-denied');
  assert.throws(() => counted.add([]), /has labels verb/);
  const bucket = Bucket.open('hits');
  bucket.setMany([['a', 'x'], ['b', new Uint8Array([1])]]);
  assert.deepEqual(bucket.getMany(['a', 'nope']).map((v) => v && v.length), [1, undefined]);
  assert.deepEqual(bucket.keys(), ['a', 'b', 'count', 'last']);
  bucket.deleteMany(['a', 'b']);
  assert.equal(bucket.exists('a'), false);
});
