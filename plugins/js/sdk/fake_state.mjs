// fake_state.mjs: the host's state imports (`wasi:keyvalue/store`,
// `atomics`, `batch` and `yell:plugin/expiry`) answered under Node.js,
// for a plugin's unit tests: an in-memory store holding the buckets a test
// granted (`grantBucket`), read back with `value`. Errors are thrown as
// the component's bindings throw them: an Error whose `payload` is the
// WIT error variant.

const granted = new Set();
const entries = new Map();
const expires = new Map();

function entry(bucket, key) {
  return `${bucket}\u0000${key}`;
}

function fail(payload) {
  const error = new Error(`store error: ${payload.tag}`);
  error.payload = payload;
  throw error;
}

function live(bucket, key) {
  const at = expires.get(entry(bucket, key));
  if (at !== undefined && at <= Date.now()) {
    expires.delete(entry(bucket, key));
    entries.delete(entry(bucket, key));
  }
  return entries.get(entry(bucket, key));
}

/** Lets the plugin open bucket `name`, as --plugin-bucket does. */
export function grantBucket(name) {
  granted.add(name);
}

/** What `key` of `bucket` holds (a Uint8Array), for a test to look at. */
export function value(bucket, key) {
  return live(bucket, key);
}

/** Empties every bucket and takes every grant back. */
export function resetState() {
  granted.clear();
  entries.clear();
  expires.clear();
}

class Bucket {
  constructor(name) {
    this.name = name;
  }

  get(key) {
    const found = live(this.name, key);
    return found === undefined ? undefined : new Uint8Array(found);
  }

  set(key, bytes) {
    entries.set(entry(this.name, key), new Uint8Array(bytes));
    expires.delete(entry(this.name, key));
  }

  delete(key) {
    entries.delete(entry(this.name, key));
    expires.delete(entry(this.name, key));
  }

  exists(key) {
    return live(this.name, key) !== undefined;
  }

  listKeys(cursor) {
    const prefix = entry(this.name, '');
    const keys = [...entries.keys()]
      .filter((name) => name.startsWith(prefix))
      .map((name) => name.slice(prefix.length))
      .filter((key) => live(this.name, key) !== undefined && (cursor === undefined || key > cursor))
      .sort();
    return { keys, cursor: undefined };
  }
}

export function open(name) {
  if (!granted.has(name)) {
    fail({ tag: 'access-denied' });
  }
  return new Bucket(name);
}

export function increment(bucket, key, delta) {
  const found = live(bucket.name, key);
  const text = found === undefined ? '0' : new TextDecoder().decode(found);
  if (!/^-?\d+$/.test(text)) {
    fail({ tag: 'other', val: `${bucket.name}/${key} is not a counter` });
  }
  const total = BigInt(text) + BigInt(delta);
  bucket.set(key, new TextEncoder().encode(total.toString()));
  return total;
}

function same(a, b) {
  return a === b || (a !== undefined && b !== undefined && a.length === b.length && a.every((byte, i) => byte === b[i]));
}

export class Cas {
  static new(bucket, key) {
    return new Cas(bucket, key);
  }

  constructor(bucket, key) {
    this.bucket = bucket;
    this.key = key;
    this.seen = bucket.get(key);
  }

  current() {
    return this.seen;
  }
}

export function swap(cas, bytes) {
  if (!same(cas.bucket.get(cas.key), cas.seen)) {
    fail({ tag: 'cas-failed', val: new Cas(cas.bucket, cas.key) });
  }
  cas.bucket.set(cas.key, bytes);
}

export function getMany(bucket, keys) {
  return keys.map((key) => {
    const found = bucket.get(key);
    return found === undefined ? undefined : [key, found];
  });
}

export function setMany(bucket, pairs) {
  for (const [key, bytes] of pairs) {
    bucket.set(key, bytes);
  }
}

export function deleteMany(bucket, keys) {
  for (const key of keys) {
    bucket.delete(key);
  }
}

export function setWithTtl(bucket, key, bytes, ttlMs) {
  bucket.set(key, bytes);
  expires.set(entry(bucket.name, key), Date.now() + Number(ttlMs));
}

export function expire(bucket, key, ttlMs) {
  if (!bucket.exists(key)) {
    return false;
  }
  expires.set(entry(bucket.name, key), Date.now() + Number(ttlMs));
  return true;
}
