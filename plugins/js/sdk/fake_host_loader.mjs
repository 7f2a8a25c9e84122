// fake_host_loader.mjs: a Node.js module hook that resolves the host's
// imports to the fake host: `yell:plugin/log` and `yell:plugin/connection`
// to fake_host.mjs, `yell:plugin/metrics` to fake_metrics.mjs, and the
// state interfaces (`wasi:keyvalue/...`, `yell:plugin/expiry`) to
// fake_state.mjs. Registered by testing.mjs.

function fake(specifier) {
  if (specifier.startsWith('yell:plugin/metrics@')) {
    return 'fake_metrics.mjs';
  }
  if (specifier.startsWith('wasi:keyvalue/') || specifier.startsWith('yell:plugin/expiry@')) {
    return 'fake_state.mjs';
  }
  if (specifier.startsWith('yell:plugin/')) {
    return 'fake_host.mjs';
  }
  return undefined;
}

export async function resolve(specifier, context, next) {
  const module = fake(specifier);
  if (module !== undefined) {
    return { url: new URL(`./${module}`, import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
