// Exercises the helper: every reply form, errors, greet/farewell, logging.
import { info, warn, peer, text } from '../../sdk/yell_plugin.js';

let lines = 0;
export function greet(conn) {
  info(`greet conn=${conn} (${typeof conn}) peer=${peer(conn)}`);
  return `hello ${conn}`;
}
export function farewell(conn) {
  return [`bye ${conn}`, `lines seen by this instance: ${lines}`];
}
export function transform(line, conn) {
  lines++;
  const s = text(line);
  switch (s) {
    case 'drop': return null;
    case 'none': return [];
    case 'empty': return '';
    case 'two': return ['one', new TextEncoder().encode('two')];
    case 'gen': return (function* () { yield 'g1'; yield 'g2'; })();
    case 'u16': return new Uint16Array([0x4241]);
    case 'nl': return 'a\nb';
    case 'num': return 42;
    case 'str-throw': throw 'a thrown string';
    case 'err-throw': throw new RangeError('a RangeError');
    case 'empty-err': throw new Error('');
    case 'async': return Promise.resolve('x');
    case 'console': console.log('console.log from the plugin', 1n, {a: [1, 2n]}, null); console.error(new Error('boom')); console.debug('dbg'); return 'logged';
    case 'instanceof': return `Uint8Array:${line instanceof Uint8Array} isView:${ArrayBuffer.isView(line)}`;
    case 'random': return `Math.random=${Math.random()} ${Math.random()}`;
    case 'date': return `Date.now=${Date.now()} ${new Date().toISOString()}`;
    case 'globals': return ['TextEncoder', 'TextDecoder', 'URL', 'atob', 'structuredClone', 'crypto', 'setTimeout', 'queueMicrotask', 'performance', 'console', 'fetch', 'Intl']
      .map((g) => `${g}:${typeof globalThis[g]}`).join(' ');
    case 'intl': return [`${(1234567.891).toLocaleString('de-DE')}`, 'straße'.toUpperCase(), 'İ'.toLowerCase().length, new Intl.DateTimeFormat('en-US').format(0)].join(' | ');
    case 'warn': warn(`warned from line ${lines}`); return 'warned';
    case 'lone': return '\ud800x';
    default: return line;
  }
}
