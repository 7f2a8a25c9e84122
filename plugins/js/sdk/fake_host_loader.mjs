// fake_host_loader.mjs: a Node.js module hook that resolves the host's
// imports (`yell:plugin/...`) to fake_host.mjs. Registered by testing.mjs.

export async function resolve(specifier, context, next) {
  if (specifier.startsWith('yell:plugin/')) {
    return { url: new URL('./fake_host.mjs', import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
