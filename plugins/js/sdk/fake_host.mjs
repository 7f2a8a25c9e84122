// fake_host.mjs: the host's imports (`yell:plugin/log`,
// `yell:plugin/connection`) answered under Node.js, for a plugin's unit
// tests: testing.mjs resolves those imports here. What the plugin logs is
// kept; a connection's addresses are what the test set.

export const logs = [];
export const connections = new Map();

export function log(level, message) {
  logs.push(`${level}: ${message}`);
}

export function panicked(message) {
  logs.push(`panicked: ${message}`);
}

export function info(conn) {
  return connections.get(BigInt(conn));
}
