// A test plugin (JavaScript) that counts in the host's state store through
// the SDK's wrappers, and publishes a metric of its own, so the wrappers
// are proven against the real host (the same commands as tally-py and
// tally-c):
//
// - `COUNT`: adds 1 to the key `count` (atomics `increment`): the total;
// - `ADD N`: adds N to the key `sum` by compare-and-swap retries: the sum;
// - `TOTAL`: the value of `count` (0 when unset), read with `get`.
//
// Each counted line adds 1 to `yell_plugin_lang_tally_lines_total{command}`.
// Configuration: `bucket` (default `tally`), which the operator grants.

import { Bucket } from '../../sdk/yell_state.js';
import { Counter } from '../../sdk/yell_metrics.js';

const decoder = new TextDecoder();
let bucketName = 'tally';
let lines;

export function setup(config) {
  for (const key of Object.keys(config)) {
    if (key !== 'bucket') throw new Error(`unknown config key \`${key}\``);
  }
  bucketName = config.bucket ?? 'tally';
  // Here, not at the top of the module: that runs when the component is
  // built, where the host's functions cannot be called.
  lines = Counter.define('lang_tally_lines', 'Lines the tally test plugin counted, by command.', ['command']);
}

export function transform(line) {
  const bucket = Bucket.open(bucketName);
  const words = decoder.decode(line).split(' ');
  if (words.length === 1 && words[0] === 'COUNT') {
    lines.add(['count']);
    return `${bucket.increment('count', 1n)}`;
  }
  if (words.length === 2 && words[0] === 'ADD') {
    const delta = BigInt(words[1]);
    const written = bucket.update('sum', (current) => `${BigInt(current ? decoder.decode(current) : '0') + delta}`);
    lines.add(['add']);
    return written;
  }
  if (words.length === 1 && words[0] === 'TOTAL') {
    return bucket.get('count') ?? '0';
  }
  throw new Error('expected COUNT, ADD N or TOTAL');
}
