// yell_state.js: state outside the instance, in the host's `wasi:keyvalue`
// store, for a JavaScript plugin. Only the buckets the operator grants
// (`--plugin-bucket`) open; a swap, another instance and another host on
// the same store see what is written here.
//
//     import { Bucket } from '../sdk/yell_state.js';
//
//     export function transform(line) {
//       const total = Bucket.open('hits').increment('all', 1);  // a BigInt
//       return `${total}`;
//     }
//
// An app that imports this module is built for the `stateful-plugin`
// world: `world = "stateful-plugin"` in its yell-plugin.toml. Every failed
// call throws a StateError saying why (a bucket not granted, the store down
// or slow, a limit), which answers the line with `ERR plugin: <message>`
// unless the app catches it. Values are Uint8Arrays (a string given is
// encoded as UTF-8); counters are BigInts kept as decimal text.

import { open } from 'wasi:keyvalue/store@0.2.0-draft2';
import { increment, Cas, swap } from 'wasi:keyvalue/atomics@0.2.0-draft2';
import { getMany, setMany, deleteMany } from 'wasi:keyvalue/batch@0.2.0-draft2';
import { setWithTtl, expire } from 'yell:plugin/expiry@0.1.0';

const encoder = new TextEncoder();

/** Why a state call failed: `kind` is 'access-denied', 'no-such-store' or
 * 'other'. */
export class StateError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'StateError';
    this.kind = kind;
  }
}

function bytes(value) {
  return typeof value === 'string' ? encoder.encode(value) : new Uint8Array(value);
}

// A store error as the bindings throw it (the error variant, or an error
// carrying it as its payload) made a StateError.
function stateError(bucket, thrown) {
  const error = thrown && thrown.payload !== undefined ? thrown.payload : thrown;
  switch (error && error.tag) {
    case 'access-denied':
      return new StateError('access-denied', `bucket ${bucket}: access denied (the operator grants buckets with --plugin-bucket)`);
    case 'no-such-store':
      return new StateError('no-such-store', `bucket ${bucket}: no such store`);
    case 'other':
      return new StateError('other', String(error.val));
    default:
      return thrown;
  }
}

function call(bucket, action) {
  try {
    return action();
  } catch (thrown) {
    throw stateError(bucket, thrown);
  }
}

/** How many times `update` tries before it gives up. */
const UPDATE_TRIES = 1000;

/** An open bucket. */
export class Bucket {
  /** Opens the bucket `name`; only granted buckets open. */
  static open(name) {
    return new Bucket(name, call(name, () => open(name)));
  }

  constructor(name, handle) {
    this.name = name;
    this.handle = handle;
  }

  /** The value of `key` (a Uint8Array), or undefined. */
  get(key) {
    return call(this.name, () => this.handle.get(key));
  }

  /** Sets `key` to `value` (a Uint8Array or a string). */
  set(key, value) {
    call(this.name, () => this.handle.set(key, bytes(value)));
  }

  /** Sets `key` to `value`, to expire `ttlMs` milliseconds from now. */
  setWithTtl(key, value, ttlMs) {
    call(this.name, () => setWithTtl(this.handle, key, bytes(value), BigInt(Math.max(1, Math.ceil(ttlMs)))));
  }

  /** Makes `key` expire `ttlMs` from now (0: at once); false when unset. */
  expire(key, ttlMs) {
    return call(this.name, () => expire(this.handle, key, BigInt(Math.max(0, Math.ceil(ttlMs)))));
  }

  /** Removes `key`. */
  delete(key) {
    call(this.name, () => this.handle.delete(key));
  }

  /** Whether `key` is set. */
  exists(key) {
    return call(this.name, () => this.handle.exists(key));
  }

  /** Every key, page after page. */
  keys() {
    const all = [];
    let cursor;
    do {
      const page = call(this.name, () => this.handle.listKeys(cursor));
      all.push(...page.keys);
      cursor = page.cursor;
    } while (cursor !== undefined);
    return all;
  }

  /** Adds `delta` to the counter `key` (0 when unset), atomically in the
   * store: the new value, a BigInt. */
  increment(key, delta = 1n) {
    return call(this.name, () => increment(this.handle, key, BigInt(delta)));
  }

  /** Replaces the value of `key` by `change(current)` (current: a
   * Uint8Array or undefined; returning undefined leaves it), by
   * compare-and-swap, calling `change` again when another writer came
   * first. Returns what was written, or undefined. */
  update(key, change) {
    let cas = call(this.name, () => Cas.new(this.handle, key));
    for (let tries = 0; tries < UPDATE_TRIES; tries++) {
      const current = call(this.name, () => cas.current());
      const next = change(current);
      if (next === undefined || next === null) {
        return undefined;
      }
      const value = bytes(next);
      try {
        swap(cas, value);
        return value;
      } catch (thrown) {
        const error = thrown && thrown.payload !== undefined ? thrown.payload : thrown;
        if (error && error.tag === 'cas-failed') {
          cas = error.val;
          continue;
        }
        throw stateError(this.name, error && error.tag === 'store-error' ? error.val : thrown);
      }
    }
    throw new StateError('other', `${this.name}/${key}: still contended after ${UPDATE_TRIES} tries`);
  }

  /** The values of `keys`, in order (undefined where unset). */
  getMany(keys) {
    const found = call(this.name, () => getMany(this.handle, keys));
    return found.map((entry) => (entry === undefined ? undefined : entry[1]));
  }

  /** Sets every `[key, value]` pair, all or none. */
  setMany(pairs) {
    call(this.name, () => setMany(this.handle, pairs.map(([key, value]) => [key, bytes(value)])));
  }

  /** Removes every key of `keys`. */
  deleteMany(keys) {
    call(this.name, () => deleteMany(this.handle, keys));
  }
}
