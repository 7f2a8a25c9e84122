// jsonfmt: each line is a JSON value, answered re-formatted with its object
// keys sorted (at every depth): compact by default, one line per input line;
// with `indent=N`, pretty-printed over several reply lines. A line that is not
// JSON is answered with an error naming the problem.
//
// Configuration (all optional):
//   indent=N        pretty-print with N spaces (0, the default: compact)
//   sort=false      keep the keys in their input order
//   fields=a,b,c    keep only these top-level keys of objects, in this order

import { info } from '../sdk/yell_plugin.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
let indent = 0;
let sort = true;
let fields = null;

export function setup(config) {
  for (const key of Object.keys(config)) {
    if (!['indent', 'sort', 'fields'].includes(key)) {
      throw new Error(`unknown config key \`${key}\`: this plugin knows indent, sort, fields`);
    }
  }
  if (config.indent !== undefined) {
    indent = Number(config.indent);
    if (!Number.isInteger(indent) || indent < 0 || indent > 8) {
      throw new Error(`config \`indent\`: cannot use ${JSON.stringify(config.indent)}: want 0 to 8`);
    }
  }
  if (config.sort !== undefined) {
    if (config.sort !== 'true' && config.sort !== 'false') {
      throw new Error(`config \`sort\`: cannot use ${JSON.stringify(config.sort)}: want true or false`);
    }
    sort = config.sort === 'true';
  }
  if (config.fields !== undefined) {
    fields = config.fields.split(',').map((f) => f.trim()).filter((f) => f !== '');
  }
  info(`jsonfmt: indent=${indent} sort=${sort} fields=${fields ? fields.join(',') : '*'}`);
}

export function transform(line) {
  let text;
  try {
    text = utf8.decode(line);
  } catch (_) {
    throw new Error('not UTF-8');
  }
  if (text.trim() === '') return null; // blank lines are dropped
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`not JSON: ${error.message}`);
  }
  if (fields !== null && isObject(value)) {
    const picked = {};
    for (const f of fields) if (Object.hasOwn(value, f)) picked[f] = value[f];
    value = picked;
    // The listed order is kept: serialize the top level without sorting.
    return serialize(value, '', false).split('\n');
  }
  return serialize(value, '', sort).split('\n');
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// JSON.stringify with sorted keys. (Sorting the keys and calling
// JSON.stringify would not do: a JS object lists integer-like keys first.)
function serialize(value, pad, sortHere) {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const inner = pad + ' '.repeat(indent);
    const items = value.map((v) => serialize(v, inner, sort));
    return indent === 0
      ? `[${items.join(',')}]`
      : `[\n${inner}${items.join(`,\n${inner}`)}\n${pad}]`;
  }
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0) return '{}';
    if (sortHere) keys.sort();
    const inner = pad + ' '.repeat(indent);
    const sep = indent === 0 ? ':' : ': ';
    const items = keys.map((k) => `${JSON.stringify(k)}${sep}${serialize(value[k], inner, sort)}`);
    return indent === 0
      ? `{${items.join(',')}}`
      : `{\n${inner}${items.join(`,\n${inner}`)}\n${pad}}`;
  }
  return JSON.stringify(value);
}
