//! A byte buffer that stays in memory up to a few MiB and spills to an
//! anonymous temporary file beyond that, so memory stays bounded however
//! much passes through it.
//!
//! If the temporary file cannot be created or written (no writable TMPDIR,
//! a full disk, a file-size limit), the buffer refuses more bytes rather
//! than grow in memory: its callers decide what to do with them.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

/// How much stays in memory before it goes to a temporary file.
pub(crate) const IN_MEMORY: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
pub(crate) struct SpillBuffer {
    /// The first `spilled` bytes, once memory ran out.
    file: Option<File>,
    spilled: u64,
    /// The bytes after those.
    memory: Vec<u8>,
    /// Where the temporary file goes, when not in `$TMPDIR` (for tests).
    spill_dir: Option<std::path::PathBuf>,
}

impl SpillBuffer {
    pub(crate) fn new() -> SpillBuffer {
        SpillBuffer::default()
    }

    pub(crate) fn len(&self) -> u64 {
        self.spilled + self.memory.len() as u64
    }

    /// Keeps `data`, or refuses it (keeping none of it) when memory is full
    /// and the temporary file cannot take more.
    pub(crate) fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if self.memory.len() + data.len() > IN_MEMORY && !self.memory.is_empty() {
            self.spill()?;
        }
        self.memory.extend_from_slice(data);
        Ok(())
    }

    /// Moves what is in memory to the end of the file, keeping in memory
    /// whatever the file did not take.
    fn spill(&mut self) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let created = match &self.spill_dir {
                    Some(dir) => tempfile::tempfile_in(dir),
                    None => tempfile::tempfile(),
                };
                self.file.insert(created?)
            }
        };
        let mut written = 0;
        let result = loop {
            if written == self.memory.len() {
                break Ok(());
            }
            match file.write_at(&self.memory[written..], self.spilled + written as u64) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.spilled += written as u64;
        self.memory.drain(..written);
        result
    }

    /// Copies bytes from `offset` into `buf`; returns how many (0 only at the end).
    pub(crate) fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset < self.spilled {
            let n = (self.spilled - offset).min(buf.len() as u64) as usize;
            let file = self.file.as_ref().expect("spilled bytes are in the file");
            file.read_exact_at(&mut buf[..n], offset)?;
            return Ok(n);
        }
        let start = ((offset - self.spilled) as usize).min(self.memory.len());
        let n = (self.memory.len() - start).min(buf.len());
        buf[..n].copy_from_slice(&self.memory[start..start + n]);
        Ok(n)
    }

    /// Writes everything, in order, to `out`.
    pub(crate) fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut offset = 0;
        while offset < self.len() {
            let n = self.read_at(offset, &mut buf)?;
            out.write_all(&buf[..n])?;
            offset += n as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(buffer: &SpillBuffer) -> Vec<u8> {
        let mut out = Vec::new();
        buffer.write_to(&mut out).unwrap();
        out
    }

    #[test]
    fn keeps_every_byte_across_the_spill() {
        let mut buffer = SpillBuffer::new();
        let chunk: Vec<u8> = (0..=255u8).cycle().take(1_000_003).collect();
        for _ in 0..6 {
            buffer.append(&chunk).unwrap();
        }
        assert!(buffer.file.is_some(), "6 MB should have spilled to a file");
        assert!(buffer.memory.len() <= IN_MEMORY);
        let out = contents(&buffer);
        assert_eq!(out.len(), 6 * chunk.len());
        assert!(out.chunks(chunk.len()).all(|c| c == chunk.as_slice()));
    }

    #[test]
    fn reads_from_memory_at_any_offset() {
        let mut buffer = SpillBuffer::new();
        buffer.append(b"hello ").unwrap();
        buffer.append(b"world").unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(buffer.read_at(4, &mut buf).unwrap(), 4);
        assert_eq!(&buf, b"o wo");
        assert_eq!(buffer.read_at(9, &mut buf).unwrap(), 2);
        assert_eq!(buffer.read_at(11, &mut buf).unwrap(), 0);
    }

    #[test]
    fn reads_across_the_boundary_of_file_and_memory() {
        let mut buffer = SpillBuffer::new();
        let data: Vec<u8> = (0..IN_MEMORY + 10).map(|i| (i % 251) as u8).collect();
        buffer.append(&data).unwrap();
        buffer.append(b"tail").unwrap();
        assert_eq!(buffer.spilled as usize, IN_MEMORY + 10);
        let mut buf = [0u8; 8];
        let n = buffer.read_at(buffer.spilled - 4, &mut buf).unwrap();
        assert_eq!(&buf[..n], &data[data.len() - 4..]);
        assert_eq!(buffer.read_at(buffer.spilled, &mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"tail");
    }

    /// Without a usable temporary file the buffer kept everything in memory,
    /// without bound: a command that never stopped writing under
    /// `--hold-stdout` took the machine's memory.
    #[test]
    fn it_refuses_more_than_memory_holds_when_it_cannot_spill() {
        let mut buffer = SpillBuffer {
            spill_dir: Some("/nonexistent/retry-on-spill".into()),
            ..SpillBuffer::new()
        };
        let chunk = vec![7u8; 64 * 1024];
        let mut kept = 0;
        while buffer.append(&chunk).is_ok() {
            kept += chunk.len();
            assert!(kept <= IN_MEMORY, "kept {kept} bytes in memory");
        }
        assert!(buffer.memory.len() <= IN_MEMORY);
        assert_eq!(contents(&buffer).len(), kept, "what was kept is all there");
        assert!(buffer.append(&chunk).is_err(), "and it keeps refusing");
    }
}
