// yell_plugin.js: write a yell-host plugin in JavaScript as one per-line
// function.
//
// The host hands a plugin whole batches of lines (see wit/plugin.wit); this
// module speaks that batch contract and calls your function once per line.
// An app module is only:
//
//     export function transform(line) {      // line: Uint8Array, no '\n'
//       return line.map((b) => (b >= 97 && b <= 122 ? b - 32 : b));
//     }
//
// `transform(line, conn)` returns the reply line (a Uint8Array or a string,
// encoded as UTF-8), an array (or any iterable) of reply lines (none drops
// the line, several expand it), or null/undefined to drop it; throwing
// answers that one line with `ERR plugin: <message>`. A TypeError,
// ReferenceError, RangeError or SyntaxError is taken for a bug: its stack
// is also written to the host's log (each distinct one once per instance). It must be synchronous.
// `conn` (a BigInt) is the connection id, for per-connection state.
//
// Optional exports of the app module:
//   setup(config)   config: a plain object of the --plugin-config pairs (the
//                   last value of a repeated key wins); throw to refuse it.
//                   Without `setup`, any configuration is refused.
//   greet(conn)     reply lines sent to a new connection first.
//   farewell(conn)  reply lines sent to a finished connection last.
//
// build.mjs makes the component's entry module, which hands the app module to
// `plugin()` below and exports the result as `yell:plugin/transform`.
//
// Module state (top-level variables) is per wasm instance: the host pools
// instances, so it is shared by many connections and a connection's batches
// may go to different instances (wit/plugin.wit).

import { log as hostLog, panicked } from 'yell:plugin/log@0.1.0';
import { info as connectionInfo } from 'yell:plugin/connection@0.1.0';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NEWLINE = 10;
const EMPTY = new Uint8Array(0);

/** Writes `message` to the host's log; level: trace, debug, info, warn, error. */
export function log(level, message) {
  hostLog(level, String(message));
}

/** Writes `message` to the host's log at info level. */
export function info(message) {
  hostLog('info', String(message));
}

/** Writes `message` to the host's log at warn level. */
export function warn(message) {
  hostLog('warn', String(message));
}

/** The client address of connection `conn` (the real one behind a load
 * balancer that sends the PROXY protocol) while it is open, else undefined. */
export function peer(conn) {
  const found = connectionInfo(BigInt(conn));
  return found === undefined ? undefined : found.peer;
}

// The engine is built without stdio (the component imports no WASI), so
// console output would go nowhere: send it to the host's log instead.
function formatArg(value) {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    if (typeof value.message === 'string') return String(value.stack ? `${value}\n${value.stack}` : value);
    try {
      return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}` : v));
    } catch (_) {
      return String(value);
    }
  }
  return String(value);
}
for (const [method, level] of [
  ['trace', 'trace'], ['debug', 'debug'], ['log', 'info'], ['info', 'info'], ['warn', 'warn'], ['error', 'error'],
]) {
  console[method] = (...args) => hostLog(level, args.map(formatArg).join(' '));
}

/** The line as a string (UTF-8; invalid bytes become U+FFFD). */
export function text(line) {
  return decoder.decode(line);
}

// The message a thrown value answers a line with.
function messageOf(error) {
  if (typeof error === 'string') return error;
  // Duck-typed rather than `instanceof Error`, which fails across realms.
  if (error !== null && typeof error === 'object' && typeof error.message === 'string') {
    return error.message || String(error.name || 'Error');
  }
  return String(error);
}

// A growable byte buffer: the batch's output.
class Output {
  constructor(capacity) {
    this.buf = new Uint8Array(Math.max(capacity, 64));
    this.len = 0;
  }

  reserve(extra) {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let capacity = this.buf.length * 2;
    while (capacity < need) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
  }

  // Appends one reply line and its '\n'.
  line(value) {
    if (typeof value === 'string') {
      if (value.indexOf('\n') !== -1) throw new Error('a reply line cannot hold a line break');
      // UTF-8 takes at most 3 bytes per UTF-16 code unit.
      if (this.len + value.length * 3 >= this.buf.length) this.reserve(value.length * 3 + 1);
      this.len += encoder.encodeInto(value, this.buf.subarray(this.len)).written;
    } else if (ArrayBuffer.isView(value)) {
      // Any typed array or DataView, as its bytes. (isView, not instanceof:
      // arrays made by the bindings belong to another realm.)
      if (value.BYTES_PER_ELEMENT !== 1) {
        value = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      }
      if (value.indexOf(NEWLINE) !== -1) throw new Error('a reply line cannot hold a line break');
      if (this.len + value.length >= this.buf.length) this.reserve(value.length + 1);
      this.buf.set(value, this.len);
      this.len += value.length;
    } else {
      throw new TypeError(`a reply line must be a Uint8Array or a string, not ${describe(value)}`);
    }
    this.buf[this.len++] = NEWLINE;
  }

  // Appends what a transform (or greet/farewell) returned.
  reply(value) {
    if (value === undefined || value === null) return;
    if (typeof value === 'string' || ArrayBuffer.isView(value)) {
      this.line(value);
    } else if (typeof value.then === 'function') {
      throw new TypeError('transform returned a Promise: it must be synchronous');
    } else if (typeof value[Symbol.iterator] === 'function') {
      for (const item of value) this.line(item);
    } else {
      this.line(value);
    }
  }

  bytes() {
    return this.buf.subarray(0, this.len);
  }
}

function describe(value) {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor ? value.constructor.name : 'object';
  return typeof value;
}

// Runs an export. A thrown string is the error of a result<_, string>; any
// other exception that escapes traps the instance, so tell the host why first
// (the engine, built without stdio, prints nothing).
function guarded(name, body) {
  return function (...args) {
    try {
      return body(...args);
    } catch (error) {
      if (typeof error === 'string') throw error;
      try {
        panicked(`${name}: ${messageOf(error)}${error && error.stack ? `\n${error.stack}` : ''}`);
      } catch (_) {
        // Nothing more to do: trap anyway.
      }
      throw error;
    }
  };
}

// The stacks already logged (bounded: a bug on every line logs each
// distinct stack once, not once per line).
const loggedStacks = new Set();
const MAX_LOGGED_STACKS = 64;

function isBug(error) {
  return (
    error instanceof TypeError ||
    error instanceof ReferenceError ||
    error instanceof RangeError ||
    error instanceof SyntaxError
  );
}

function logStack(error) {
  const text = `${error}\n${error.stack || ''}`.trimEnd();
  if (loggedStacks.has(text) || loggedStacks.size >= MAX_LOGGED_STACKS) return;
  loggedStacks.add(text);
  hostLog('warn', `transform threw ${text}`);
}

/** The `yell:plugin/transform` interface object for app module `app`. */
export function plugin(app) {
  const transformLine = app.transform;
  if (typeof transformLine !== 'function') {
    throw new Error('the plugin module must export `function transform(line)`');
  }
  const setup = app.setup;
  const greet = app.greet;
  const farewell = app.farewell;

  function replyBytes(name, fn, conn) {
    if (typeof fn !== 'function') return EMPTY;
    const out = new Output(64);
    try {
      out.reply(fn(conn));
    } catch (error) {
      // connection-opened/closed cannot fail: log and send nothing.
      hostLog('warn', `${name}: ${messageOf(error)}`);
      return EMPTY;
    }
    return out.bytes();
  }

  return {
    // result<_, string>: the binding takes a thrown *string* (or an object
    // with a `payload` property) as the error; a thrown Error would trap.
    init: guarded('init', (pairs) => {
      const config = Object.create(null);
      for (const [key, value] of pairs) config[key] = value;
      if (typeof setup === 'function') {
        try {
          setup(config);
        } catch (error) {
          throw messageOf(error);
        }
      } else {
        for (const key in config) {
          throw `unknown config key \`${key}\`: this plugin takes no configuration`;
        }
      }
    }),

    transformBatch: guarded('transform-batch', (conn, batch) => {
      // The bindings hand over a Uint8Array of their own realm: view it from
      // this one, so that `line instanceof Uint8Array` holds in the app.
      const lines = new Uint8Array(batch.buffer, batch.byteOffset, batch.byteLength);
      const out = new Output(lines.length + (lines.length >> 2));
      const ends = [];
      const errors = [];
      let start = 0;
      let index = 0;
      // Every line, the last included, ends with '\n' (the contract).
      while (start < lines.length) {
        let stop = lines.indexOf(NEWLINE, start);
        if (stop === -1) stop = lines.length;
        const mark = out.len;
        try {
          out.reply(transformLine(lines.subarray(start, stop), conn));
        } catch (error) {
          out.len = mark;
          if (isBug(error)) logStack(error);
          errors.push({ line: index, message: messageOf(error) });
        }
        ends.push(out.len);
        start = stop + 1;
        index += 1;
      }
      return { output: out.bytes(), ends: new Uint32Array(ends), errors };
    }),

    transformRaw: guarded('transform-raw', (_conn, _chunk) => {
      throw 'this plugin transforms lines: serve it with --framing lines';
    }),

    connectionOpened: guarded('connection-opened', (conn) => replyBytes('greet', greet, conn)),

    connectionClosed: guarded('connection-closed', (conn) => replyBytes('farewell', farewell, conn)),
  };
}
