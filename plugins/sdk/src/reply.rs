//! The reply lines a plugin pushes for one input line.

/// Collects reply lines. Each push is one line: the '\n' ending it is added
/// here, so the bytes pushed must not end with one (a '\n' inside them splits
/// them into several lines on the wire).
///
/// During a batch every line's replies go into one buffer shared by the whole
/// batch, so pushing a line costs a copy and no allocation.
#[derive(Debug, Default)]
pub struct Reply {
    buf: Vec<u8>,
}

impl Reply {
    pub(crate) fn with_buffer(buf: Vec<u8>) -> Self {
        Reply { buf }
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// The reply lines, each ended by '\n'.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Adds one reply line.
    pub fn push(&mut self, line: impl AsRef<[u8]>) {
        self.buf.extend_from_slice(line.as_ref());
        self.buf.push(b'\n');
    }

    /// Adds one reply line: `line` with `map` applied to every byte. The
    /// fastest way to write a byte-wise transform: the copy and the map are
    /// plain loops over a slice, which the compiler vectorizes.
    pub fn push_map(&mut self, line: &[u8], map: impl Fn(u8) -> u8) {
        self.buf.reserve(line.len() + 1);
        // One pass, mapping as it copies: no `memory.copy` (which wasmtime
        // runs as a call out of wasm, dear for a short line).
        self.buf.extend(line.iter().map(|&byte| map(byte)));
        self.buf.push(b'\n');
    }

    /// Adds one reply line made of the bytes `bytes` yields, without building
    /// it in a buffer of its own first (for byte-wise transforms).
    pub fn push_bytes(&mut self, bytes: impl IntoIterator<Item = u8>) {
        self.buf.extend(bytes);
        self.buf.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_push_is_one_line() {
        let mut reply = Reply::default();
        reply.push(b"a");
        reply.push_bytes(b"bc".iter().map(u8::to_ascii_uppercase));
        reply.push(b"");
        reply.push_map(b"d\xffe", |b| b.to_ascii_uppercase());
        assert_eq!(reply.into_bytes(), b"a\nBC\n\nD\xffE\n");
    }
}
