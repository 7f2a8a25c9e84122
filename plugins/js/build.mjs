// Builds a yell-host plugin component from a JavaScript app module:
//   node build.mjs WIT_DIR APP.js OUT.wasm [SDK_DIR] [WORLD]
// SDK_DIR (default: sdk/ beside this script) holds yell_plugin.js; its
// parent folder must hold the app too. WORLD (default `plugin`) is the
// contract's world to build for: `metrics-plugin` or `stateful-plugin`
// for an app that uses yell_metrics.js or yell_state.js (the component
// keeps every import of its world). ComponentizeJS is imported from
// beside this script: the repository's plugins/js, or the tool folder
// `yell-host build` installs it into.
// The app module exports `transform(line)` (see sdk/yell_plugin.js). This
// script writes an entry module that wraps it with the helper and exports
// the `yell:plugin/transform` interface, then runs ComponentizeJS on it:
// no AOT, and none of its WASI features (stdio, random, clocks, http,
// fetch-event), so the component imports only what its world names.
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const [witArg, appArg, outArg, sdkArg, worldArg] = process.argv.slice(2);
if (!witArg || !appArg || !outArg) {
  console.error('usage: node build.mjs WIT_DIR APP.js OUT.wasm [SDK_DIR] [WORLD]');
  process.exit(2);
}
const sdk = sdkArg ? resolve(sdkArg) : resolve(dirname(fileURLToPath(import.meta.url)), 'sdk');
const root = dirname(sdk);
const wit = resolve(witArg);
const app = resolve(appArg);
const out = resolve(outArg);

// ComponentizeJS resolves relative imports at build time inside the folder
// it maps as the guest's `/` (the working directory, when the source is
// under it): the app, the helper and the entry must all be under `root`.
if (relative(root, app).startsWith('..')) {
  console.error(`${app}: the app must be under ${root}`);
  process.exit(2);
}
process.chdir(root);
const buildDir = resolve(root, '.build');
await mkdir(buildDir, { recursive: true });
const entry = resolve(buildDir, `${relative(root, app).replaceAll('/', '_')}.entry.js`);
const rel = (path) => {
  const r = relative(buildDir, path);
  return r.startsWith('.') ? r : `./${r}`;
};
// The contract's version, from its package line, names the interface.
const contract = await readFile(resolve(wit, 'plugin.wit'), 'utf8');
const version = /^package\s+yell:plugin@([^;\s]+)/m.exec(contract);
if (!version) {
  console.error(`${wit}/plugin.wit: no \`package yell:plugin@VERSION;\` line`);
  process.exit(2);
}
// Exported under the interface's full name, which the bindings look up
// first, so the app's own `transform` function does not clash with it.
await writeFile(entry, `import * as app from '${rel(app)}';
import { plugin } from '${rel(resolve(sdk, 'yell_plugin.js'))}';
const transform = plugin(app);
export { transform as 'yell:plugin/transform@${version[1]}' };
`);

const { component } = await componentize({
  sourcePath: entry,
  witPath: wit,
  worldName: worldArg || 'plugin',
  disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'],
});
await writeFile(`${out}.tmp`, component);
await rename(`${out}.tmp`, out);
