//! The byte format of one shuffle block, on disk and on the wire, and its
//! integrity checks.
//!
//! A block is an Arrow IPC stream cut into checksummed frames:
//!
//! ```text
//! "KILNBLK1"                                   8-byte magic
//! { len: u32 LE, crc: u32 LE, payload[len] }   one frame per IPC write (schema, each batch, end of stream)
//! { 0: u32 LE, crc: u32 LE, total: u64 LE }    end frame: total payload bytes, crc over `total`
//! ```
//!
//! `crc` is CRC-32 (IEEE, `crc32fast`) of the payload. The writer computes
//! the checksums as it writes ([`FrameWriter`]); every reader, the executor
//! reading its own disk and the peer that fetched the raw bytes over Flight
//! alike, runs them through a [`BlockDecoder`], which checks each frame before
//! the IPC decoder sees a byte of it, and checks at the end that the block
//! was neither cut short nor longer than the size the map task reported. So
//! a flipped bit or a truncated file is a [`BlockError`] (and then a fetch
//! failure that recomputes the map output), never wrong rows; and no length
//! read from a damaged header makes the reader allocate more than the block's
//! known size.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use arrow::buffer::{Buffer, MutableBuffer};
use arrow::error::ArrowError;
use arrow::ipc::reader::StreamDecoder;
use arrow::record_batch::RecordBatch;

/// First bytes of every block file.
pub const MAGIC: &[u8; 8] = b"KILNBLK1";
/// Bytes of a frame header (length and checksum).
const FRAME_HEADER: usize = 8;
/// Bytes of the end frame's body (total payload length).
const END_BODY: usize = 8;

/// A block failed its integrity checks or could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The bytes do not match what the writer recorded.
    #[error("corrupt shuffle block: {0}")]
    Corrupt(String),
    /// The block ended before its end frame, or is shorter or longer than reported.
    #[error("truncated shuffle block: {0}")]
    Truncated(String),
    /// Verified bytes that Arrow could not decode (a Kiln bug or a version mismatch).
    #[error("undecodable shuffle block: {0}")]
    Decode(#[from] ArrowError),
    /// The block file could not be read.
    #[error("cannot read shuffle block: {0}")]
    Io(#[from] io::Error),
}

/// Wraps the file an IPC stream writer writes to, and turns what is written
/// between two [`FrameWriter::seal`] calls into one checksummed frame.
#[derive(Debug)]
pub struct FrameWriter<W: Write> {
    inner: W,
    pending: Vec<u8>,
    payload_total: u64,
    written: u64,
}

impl<W: Write> FrameWriter<W> {
    /// Starts a block: writes the magic to `inner`.
    pub fn new(mut inner: W) -> io::Result<Self> {
        inner.write_all(MAGIC)?;
        Ok(FrameWriter {
            inner,
            pending: Vec::new(),
            payload_total: 0,
            written: MAGIC.len() as u64,
        })
    }

    /// Writes what was written since the last seal as one frame (nothing if empty).
    pub fn seal(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let len = u32::try_from(self.pending.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "one shuffle batch encodes to {} bytes, over the 4 GiB frame limit; lower datafusion.execution.batch_size",
                    self.pending.len()
                ),
            )
        })?;
        let crc = crc32fast::hash(&self.pending);
        let mut header = [0u8; FRAME_HEADER];
        header[..4].copy_from_slice(&len.to_le_bytes());
        header[4..].copy_from_slice(&crc.to_le_bytes());
        self.inner.write_all(&header)?;
        self.inner.write_all(&self.pending)?;
        self.payload_total += u64::from(len);
        self.written += FRAME_HEADER as u64 + u64::from(len);
        self.pending.clear();
        Ok(())
    }

    /// Seals the last frame, writes the end frame, and returns the inner
    /// writer and the block's total size in bytes.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.seal()?;
        let total = self.payload_total.to_le_bytes();
        let mut end = [0u8; FRAME_HEADER + END_BODY];
        end[4..8].copy_from_slice(&crc32fast::hash(&total).to_le_bytes());
        end[8..].copy_from_slice(&total);
        self.inner.write_all(&end)?;
        self.inner.flush()?;
        self.written += (FRAME_HEADER + END_BODY) as u64;
        Ok((self.inner, self.written))
    }
}

impl<W: Write> Write for FrameWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    /// Frames end only at [`FrameWriter::seal`]; a flush must not cut one.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where a [`BlockDecoder`] is within the block.
#[derive(Debug)]
enum Part {
    /// Reading the 8-byte magic into `head`.
    Magic,
    /// Reading an 8-byte frame header into `head`.
    Header,
    /// Reading a frame's payload (or the end frame's body) into `buf`.
    Body {
        len: u32,
        crc: u32,
        buf: MutableBuffer,
        filled: usize,
    },
    /// The end frame was checked; nothing more may follow.
    Ended,
}

/// Checks and decodes a block from bytes pushed in arbitrary pieces (Flight
/// messages, [`BlockDecoder::push`]) or read straight from a file
/// ([`BlockDecoder::read_from`]).
///
/// Each frame's payload is gathered into its own 64-byte aligned buffer
/// before its checksum is checked and Arrow decodes it. One frame holds one
/// IPC message, whose body the writer aligned to 64 bytes within it, so the
/// decoded arrays point into that buffer without a further copy (a buffer
/// at an arbitrary offset would make Arrow copy every misaligned array,
/// decimals above all).
#[derive(Debug)]
pub struct BlockDecoder {
    expected_len: u64,
    received: u64,
    head: [u8; FRAME_HEADER],
    head_filled: usize,
    part: Part,
    payload_total: u64,
    ipc: StreamDecoder,
    batches: VecDeque<RecordBatch>,
}

impl BlockDecoder {
    /// A decoder for a block the map task reported as `expected_len` bytes long.
    pub fn new(expected_len: u64) -> Self {
        BlockDecoder {
            expected_len,
            received: 0,
            head: [0; FRAME_HEADER],
            head_filled: 0,
            part: Part::Magic,
            payload_total: 0,
            ipc: StreamDecoder::new(),
            batches: VecDeque::new(),
        }
    }

    /// Bytes of the block received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Takes in the next bytes of the block, checking and decoding every
    /// frame they complete.
    pub fn push(&mut self, mut data: &[u8]) -> Result<(), BlockError> {
        while !data.is_empty() {
            let Some(want) = self.want() else {
                return Err(BlockError::Corrupt(format!(
                    "{} bytes after the end frame",
                    data.len()
                )));
            };
            let n = want.len().min(data.len());
            want[..n].copy_from_slice(&data[..n]);
            self.advance(n)?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Reads the block's next piece from `r` straight into the buffer it
    /// belongs in (a frame's payload in one read); returns `false` at the
    /// end of `r`. Decoded batches are then available from
    /// [`BlockDecoder::next_batch`].
    pub fn read_from(&mut self, r: &mut impl Read) -> Result<bool, BlockError> {
        let Some(want) = self.want() else {
            // Past the end frame: anything more in the file is an error.
            let mut probe = [0u8; 1];
            return match r.read(&mut probe) {
                Ok(0) => Ok(false),
                Ok(_) => Err(BlockError::Corrupt("bytes after the end frame".into())),
                Err(e) => Err(BlockError::Io(e)),
            };
        };
        let n = loop {
            match r.read(want) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(BlockError::Io(e)),
            }
        };
        if n == 0 {
            return Ok(false);
        }
        self.advance(n)?;
        Ok(true)
    }

    /// The next decoded batch, if a complete one is available.
    pub fn next_batch(&mut self) -> Option<RecordBatch> {
        self.batches.pop_front()
    }

    /// Checks that the whole block arrived: the end frame was seen and the
    /// size matches what the map task reported.
    pub fn finish(&mut self) -> Result<(), BlockError> {
        if !matches!(self.part, Part::Ended) {
            return Err(BlockError::Truncated(format!(
                "ends after {} of {} bytes, before its end frame",
                self.received, self.expected_len
            )));
        }
        if self.received != self.expected_len {
            return Err(BlockError::Corrupt(format!(
                "{} bytes, but the map task wrote {}",
                self.received, self.expected_len
            )));
        }
        self.ipc.finish()?;
        Ok(())
    }

    /// Where the next bytes of the block go; `None` after the end frame.
    fn want(&mut self) -> Option<&mut [u8]> {
        match &mut self.part {
            Part::Magic | Part::Header => Some(&mut self.head[self.head_filled..]),
            Part::Body { buf, filled, .. } => Some(&mut buf.as_slice_mut()[*filled..]),
            Part::Ended => None,
        }
    }

    /// Accounts for `n` bytes written into [`BlockDecoder::want`]'s slice,
    /// and checks whatever they complete.
    fn advance(&mut self, n: usize) -> Result<(), BlockError> {
        self.received += n as u64;
        // Frame bodies are bounded at their headers; a header or the magic
        // can still run past the reported size.
        if self.received > self.expected_len {
            return Err(BlockError::Corrupt(format!(
                "more than the {} bytes the map task wrote",
                self.expected_len
            )));
        }
        match &mut self.part {
            Part::Magic | Part::Header => {
                self.head_filled += n;
                if self.head_filled < FRAME_HEADER {
                    return Ok(());
                }
                self.head_filled = 0;
                if matches!(self.part, Part::Magic) {
                    if &self.head != MAGIC {
                        return Err(BlockError::Corrupt(
                            "bad magic: not a Kiln shuffle block".into(),
                        ));
                    }
                    self.part = Part::Header;
                    return Ok(());
                }
                let h = self.head;
                let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
                let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
                let body = if len == 0 { END_BODY } else { len as usize };
                let start = self.received - FRAME_HEADER as u64;
                if self.received + body as u64 > self.expected_len {
                    return Err(BlockError::Corrupt(format!(
                        "frame at byte {start} claims {body} bytes, past the block's end at {}",
                        self.expected_len
                    )));
                }
                // Zeroed memory comes fresh from the allocator; the bound above
                // keeps a damaged length from asking for more than the block.
                self.part = Part::Body {
                    len,
                    crc,
                    buf: MutableBuffer::from_len_zeroed(body),
                    filled: 0,
                };
                Ok(())
            }
            Part::Body { filled, buf, .. } => {
                *filled += n;
                if *filled < buf.len() {
                    return Ok(());
                }
                let Part::Body { len, crc, buf, .. } =
                    std::mem::replace(&mut self.part, Part::Header)
                else {
                    return Ok(());
                };
                self.frame(len, crc, buf.into())
            }
            Part::Ended => Err(BlockError::Corrupt("bytes after the end frame".into())),
        }
    }

    /// Checks one complete frame and decodes its message.
    fn frame(&mut self, len: u32, crc: u32, frame: Buffer) -> Result<(), BlockError> {
        let start = self.received - (FRAME_HEADER + frame.len()) as u64;
        if crc32fast::hash(&frame) != crc {
            return Err(BlockError::Corrupt(format!(
                "checksum mismatch in the {}-byte frame at byte {start}",
                frame.len()
            )));
        }
        if len == 0 {
            let total = u64::from_le_bytes(
                frame[..END_BODY]
                    .try_into()
                    .map_err(|_| BlockError::Corrupt("end frame too short".into()))?,
            );
            if total != self.payload_total {
                return Err(BlockError::Corrupt(format!(
                    "end frame counts {total} payload bytes, found {}",
                    self.payload_total
                )));
            }
            self.part = Part::Ended;
            return Ok(());
        }
        self.payload_total += u64::from(len);
        let mut data = frame;
        while !data.is_empty() {
            if let Some(batch) = self.ipc.decode(&mut data)? {
                self.batches.push_back(batch);
            }
        }
        Ok(())
    }
}

/// A parsed [`crate::settings::TEST_CORRUPT_BLOCK`] setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorruptBlock {
    /// Stage whose map output is damaged.
    pub stage: u32,
    /// Map task whose output is damaged.
    pub map: u32,
    /// Block (reduce partition) damaged.
    pub block: u32,
    /// Cut the file short instead of flipping a byte.
    pub truncate: bool,
}

impl CorruptBlock {
    /// Parses `STAGE/MAP/BLOCK[:truncate]`.
    pub fn parse(v: &str) -> std::result::Result<Self, String> {
        let (ids, truncate) = match v.trim().split_once(':') {
            None => (v.trim(), false),
            Some((ids, "truncate")) => (ids, true),
            Some((_, mode)) => return Err(format!("unknown mode `{mode}` (only `truncate`)")),
        };
        let nums: Vec<u32> = ids
            .split('/')
            .map(|p| p.trim().parse::<u32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| format!("expected STAGE/MAP/BLOCK[:truncate], found `{v}`"))?;
        match nums[..] {
            [stage, map, block] => Ok(CorruptBlock {
                stage,
                map,
                block,
                truncate,
            }),
            _ => Err(format!("expected STAGE/MAP/BLOCK[:truncate], found `{v}`")),
        }
    }

    /// Damages the block file at `path` as configured.
    pub fn apply(&self, path: &std::path::Path) -> io::Result<()> {
        use std::io::{Seek, SeekFrom};
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        let len = file.metadata()?.len();
        if self.truncate {
            file.set_len(len - len / 3)
        } else {
            let at = len / 2;
            let mut byte = [0u8; 1];
            file.seek(SeekFrom::Start(at))?;
            file.read_exact(&mut byte)?;
            byte[0] ^= 0x5a;
            file.seek(SeekFrom::Start(at))?;
            file.write_all(&byte)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::ipc::writer::StreamWriter;

    use super::*;

    fn batch(start: i64, n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
        ]));
        let ids: Vec<i64> = (start..start + n).collect();
        let names: Vec<String> = ids.iter().map(|i| format!("row-{i}")).collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
            ],
        )
        .expect("batch")
    }

    /// A block of three batches, as the shuffle writer writes it.
    fn block() -> (Vec<u8>, Vec<RecordBatch>) {
        let batches = vec![batch(0, 100), batch(100, 50), batch(150, 7)];
        let fw = FrameWriter::new(Vec::new()).expect("frame writer");
        let mut w = StreamWriter::try_new(fw, &batches[0].schema()).expect("ipc writer");
        w.get_mut().seal().expect("seal");
        for b in &batches {
            w.write(b).expect("write");
            w.get_mut().seal().expect("seal");
        }
        w.finish().expect("finish");
        let (bytes, len) = w
            .into_inner()
            .expect("inner")
            .finish()
            .expect("finish frames");
        assert_eq!(len, bytes.len() as u64);
        (bytes, batches)
    }

    fn decode(
        bytes: &[u8],
        expected_len: u64,
        chunk: usize,
    ) -> Result<Vec<RecordBatch>, BlockError> {
        let mut d = BlockDecoder::new(expected_len);
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk) {
            d.push(piece)?;
            while let Some(b) = d.next_batch() {
                out.push(b);
            }
        }
        d.finish()?;
        Ok(out)
    }

    #[test]
    fn round_trip_in_any_chunking() {
        let (bytes, batches) = block();
        for chunk in [1, 7, 64, 4096, bytes.len()] {
            let got = decode(&bytes, bytes.len() as u64, chunk).expect("decodes");
            assert_eq!(got, batches, "chunk size {chunk}");
        }
    }

    #[test]
    fn reading_from_a_file_checks_and_decodes_alike() {
        let (bytes, batches) = block();
        let read = |data: &[u8], expected: u64| -> Result<Vec<RecordBatch>, BlockError> {
            let mut d = BlockDecoder::new(expected);
            let mut r = std::io::Cursor::new(data.to_vec());
            let mut out = Vec::new();
            while d.read_from(&mut r)? {
                while let Some(b) = d.next_batch() {
                    out.push(b);
                }
            }
            d.finish()?;
            Ok(out)
        };
        assert_eq!(read(&bytes, bytes.len() as u64).expect("decodes"), batches);
        let mut bad = bytes.clone();
        bad[bytes.len() / 2] ^= 1;
        assert!(read(&bad, bytes.len() as u64).is_err());
        assert!(matches!(
            read(&bytes[..bytes.len() - 3], bytes.len() as u64),
            Err(BlockError::Truncated(_))
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(read(&longer, bytes.len() as u64).is_err());
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let (bytes, _) = block();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            let r = decode(&bad, bytes.len() as u64, 1000);
            assert!(
                r.is_err(),
                "flip at byte {i} of {} went unnoticed",
                bytes.len()
            );
        }
    }

    #[test]
    fn truncation_is_detected_at_every_length() {
        let (bytes, _) = block();
        for cut in 0..bytes.len() {
            // The reader knows the size the map task reported...
            let r = decode(&bytes[..cut], bytes.len() as u64, 512);
            assert!(
                matches!(r, Err(BlockError::Truncated(_))),
                "cut at {cut}: {r:?}"
            );
            // ...and even a wrong expectation cannot hide a missing end frame.
            let r = decode(&bytes[..cut], cut as u64, 512);
            assert!(r.is_err(), "cut at {cut} with matching size went unnoticed");
        }
    }

    #[test]
    fn extra_bytes_and_huge_lengths_are_refused_without_allocating() {
        let (bytes, _) = block();
        let mut longer = bytes.clone();
        longer.extend_from_slice(b"tail");
        assert!(decode(&longer, longer.len() as u64, 100).is_err());
        assert!(decode(&longer, bytes.len() as u64, 100).is_err());
        // A first frame claiming 4 GiB in a 100-byte block fails at its header.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&[0; 92]);
        let mut d = BlockDecoder::new(huge.len() as u64);
        let err = d.push(&huge[..16]).expect_err("refused");
        assert!(err.to_string().contains("past the block's end"), "{err}");
    }

    #[test]
    fn test_hook_damages_blocks_detectably() {
        let (bytes, _) = block();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("block-0.arrow");
        for spec in ["1/0/0", "1/0/0:truncate"] {
            std::fs::write(&path, &bytes).expect("write");
            let c = CorruptBlock::parse(spec).expect("parses");
            assert_eq!((c.stage, c.map, c.block), (1, 0, 0));
            c.apply(&path).expect("damage");
            let damaged = std::fs::read(&path).expect("read");
            assert_ne!(damaged, bytes, "{spec}");
            assert!(
                decode(&damaged, bytes.len() as u64, 4096).is_err(),
                "{spec}"
            );
        }
        assert!(CorruptBlock::parse("1/2").is_err());
        assert!(CorruptBlock::parse("1/2/x").is_err());
        assert!(CorruptBlock::parse("1/2/3:shred").is_err());
    }

    #[test]
    fn wrong_magic_is_corrupt() {
        let (mut bytes, _) = block();
        bytes[0] = b'X';
        let err = decode(&bytes, bytes.len() as u64, 1000).expect_err("refused");
        assert!(matches!(err, BlockError::Corrupt(_)), "{err}");
    }
}
