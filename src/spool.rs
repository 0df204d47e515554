//! A byte buffer that stays in memory up to a few MiB and spills to an
//! anonymous temporary file beyond that, so memory stays bounded however
//! much passes through it.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

/// How much stays in memory before the rest goes to a temporary file.
pub const IN_MEMORY: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct SpillBuffer {
    memory: Vec<u8>,
    file: Option<File>,
    len: u64,
}

impl SpillBuffer {
    pub fn new() -> SpillBuffer {
        SpillBuffer::default()
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn append(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.write_all(data)?,
            None if self.memory.len() + data.len() > IN_MEMORY => {
                let mut file = tempfile::tempfile()?;
                file.write_all(&self.memory)?;
                file.write_all(data)?;
                self.memory = Vec::new();
                self.file = Some(file);
            }
            None => self.memory.extend_from_slice(data),
        }
        self.len += data.len() as u64;
        Ok(())
    }

    /// Copies bytes from `offset` into `buf`; returns how many.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.len.saturating_sub(offset).min(buf.len() as u64) as usize;
        match &self.file {
            Some(file) => {
                file.read_exact_at(&mut buf[..available], offset)?;
            }
            None => {
                let start = offset as usize;
                buf[..available].copy_from_slice(&self.memory[start..start + available]);
            }
        }
        Ok(available)
    }

    /// Writes everything, in order, to `out`.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut offset = 0;
        while offset < self.len {
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

    #[test]
    fn keeps_every_byte_across_the_spill() {
        let mut buffer = SpillBuffer::new();
        let chunk: Vec<u8> = (0..=255u8).cycle().take(1_000_003).collect();
        for _ in 0..6 {
            buffer.append(&chunk).unwrap();
        }
        assert!(buffer.file.is_some(), "6 MB should have spilled to a file");
        assert!(buffer.memory.capacity() == 0);
        let mut out = Vec::new();
        buffer.write_to(&mut out).unwrap();
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
}
