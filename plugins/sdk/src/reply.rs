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
        let line = line.as_ref();
        // One capacity check for the line and its '\n'.
        self.buf.reserve(line.len() + 1);
        append_reserved(&mut self.buf, line);
        push_newline_reserved(&mut self.buf);
    }

    /// Adds one reply line made of `parts` one after the other (a prefix
    /// and the line, say), without building it in a buffer of its own.
    pub fn push_parts(&mut self, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|part| part.len()).sum();
        self.buf.reserve(len + 1);
        for part in parts {
            append(&mut self.buf, part);
        }
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

/// `buf.extend_from_slice(src)`, without a `memory.copy` for a short
/// `src`: wasmtime runs that instruction as a call out of wasm, which costs
/// more than copying a typical line. Up to 32 bytes are copied with two
/// fixed-size, overlapping loads and stores instead.
#[inline]
fn append(buf: &mut Vec<u8>, src: &[u8]) {
    buf.reserve(src.len());
    append_reserved(buf, src);
}

/// [`append`] where `buf` has room for `src` already.
#[inline(always)]
fn append_reserved(buf: &mut Vec<u8>, src: &[u8]) {
    let len = src.len();
    if len > 32 {
        buf.extend_from_slice(src);
        return;
    }
    debug_assert!(buf.capacity() - buf.len() >= len);
    let start = buf.len();
    // SAFETY: `reserve` made room for `len` more bytes after `start`; every
    // read below is within `src` and every write within that room (the
    // pairs overlap when `len` is not a multiple of their size); the bytes
    // from `start` to `start + len` are all written before `set_len`.
    unsafe {
        let from = src.as_ptr();
        let to = buf.as_mut_ptr().add(start);
        if len >= 16 {
            let head = from.cast::<[u8; 16]>().read_unaligned();
            let tail = from.add(len - 16).cast::<[u8; 16]>().read_unaligned();
            to.cast::<[u8; 16]>().write_unaligned(head);
            to.add(len - 16).cast::<[u8; 16]>().write_unaligned(tail);
        } else if len >= 8 {
            let head = from.cast::<u64>().read_unaligned();
            let tail = from.add(len - 8).cast::<u64>().read_unaligned();
            to.cast::<u64>().write_unaligned(head);
            to.add(len - 8).cast::<u64>().write_unaligned(tail);
        } else if len >= 4 {
            let head = from.cast::<u32>().read_unaligned();
            let tail = from.add(len - 4).cast::<u32>().read_unaligned();
            to.cast::<u32>().write_unaligned(head);
            to.add(len - 4).cast::<u32>().write_unaligned(tail);
        } else if len > 0 {
            // 1 to 3 bytes: the first, the middle and the last.
            *to = *from;
            *to.add(len / 2) = *from.add(len / 2);
            *to.add(len - 1) = *from.add(len - 1);
        }
        buf.set_len(start + len);
    }
}

/// Ends the line being pushed, where `buf` has room for its '\n'.
#[inline(always)]
fn push_newline_reserved(buf: &mut Vec<u8>) {
    debug_assert!(buf.capacity() > buf.len());
    let len = buf.len();
    // SAFETY: there is room for one more byte (the caller reserved it).
    unsafe {
        buf.as_mut_ptr().add(len).write(b'\n');
        buf.set_len(len + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_copies_append_exactly() {
        let source: Vec<u8> = (0..80u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for offset in 0..3 {
            for len in 0..=40 {
                let src = &source[offset..offset + len];
                let mut buf = b"prefix".to_vec();
                append(&mut buf, src);
                assert_eq!(&buf[..6], b"prefix");
                assert_eq!(&buf[6..], src, "offset {offset} len {len}");
            }
        }
        let mut reply = Reply::default();
        reply.push_parts(&[b"12", b": ", b"hello"]);
        reply.push_parts(&[]);
        assert_eq!(reply.into_bytes(), b"12: hello\n\n");
    }

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
