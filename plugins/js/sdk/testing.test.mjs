// The JavaScript SDK under Node.js: plugins through the SDK's batch code
// with the fake host (`node --test` in this folder).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { TestHost, sdk } from './testing.mjs';

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
