// The uppercase plugin, in JavaScript: each line upper-cased (ASCII letters
// only, byte for byte, as the Rust one does; other bytes, UTF-8 or not, pass
// through as they are).

export function transform(line) {
  const out = new Uint8Array(line.length);
  for (let i = 0; i < line.length; i++) {
    const byte = line[i];
    out[i] = byte >= 97 && byte <= 122 ? byte - 32 : byte;
  }
  return out;
}
