//! The spool of a later check: fetched rows in an unnamed temporary file, read back per
//! bucket range when their buckets differ (and, when that takes several passes, split by
//! pass in one reading, held rows too).

use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use castellan_domain::snapshot::{Held, Row, Table};

use crate::StoreError;

/// The write buffer of each spool a split makes (one per pass).
pub(crate) const PART_BUFFER: usize = 16 * 1024;

/// Fetched rows of one table, in an unnamed temporary file: each row as its bucket (u16),
/// key and fields, strings length-prefixed (u32; `u32::MAX` for a missing field).
pub(crate) struct Spool {
    pub(crate) file: BufWriter<std::fs::File>,
}

impl Spool {
    pub(crate) fn new() -> std::io::Result<Self> {
        Self::buffered(256 * 1024)
    }

    /// A spool whose writes are buffered `bytes` at a time: the spools of a split hold one
    /// pass each, and a hundred of them with the default buffer cost 50 MB.
    pub(crate) fn buffered(bytes: usize) -> std::io::Result<Self> {
        Ok(Self {
            file: BufWriter::with_capacity(bytes, tempfile::tempfile()?),
        })
    }

    pub(crate) fn push(&mut self, row: &Row) -> std::io::Result<()> {
        self.push_in(row.bucket(), row)
    }

    /// Pushes a row whose bucket is known.
    fn push_in(&mut self, bucket: usize, row: &Row) -> std::io::Result<()> {
        let w = &mut self.file;
        w.write_all(&(bucket as u16).to_le_bytes())?;
        w.write_all(&[row.key.len() as u8, row.fields.len() as u8])?;
        for s in row
            .key
            .iter()
            .map(|k| Some(k.as_str()))
            .chain(row.fields.iter().map(|f| f.as_deref()))
        {
            match s {
                Some(s) => {
                    w.write_all(&(s.len() as u32).to_le_bytes())?;
                    w.write_all(s.as_bytes())?;
                }
                None => w.write_all(&u32::MAX.to_le_bytes())?,
            }
        }
        Ok(())
    }

    /// Pushes a held row: the row, then whether it had vanished (read by [`read_held`]).
    ///
    /// [`read_held`]: Self::read_held
    pub(crate) fn push_held(&mut self, bucket: usize, h: &Held) -> std::io::Result<()> {
        self.push_in(bucket, &h.row)?;
        self.file.write_all(&[u8::from(h.vanished)])
    }

    /// Appends every row of `other` (a spool of fetched rows of the same table), as bytes:
    /// rows are self-delimiting.
    pub(crate) fn append(&mut self, other: &mut Spool) -> std::io::Result<()> {
        other.file.flush()?;
        let mut file = other.file.get_ref().try_clone()?;
        file.seek(SeekFrom::Start(0))?;
        std::io::copy(&mut file, &mut self.file)?;
        Ok(())
    }

    /// The spooled rows whose bucket is wanted.
    pub(crate) fn read(&mut self, t: Table, wanted: &[bool]) -> std::io::Result<Vec<Row>> {
        let mut out = Vec::new();
        self.each(t, false, |bucket, row, _| {
            if wanted[bucket] {
                out.push(row);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Every held row spooled with [`push_held`](Self::push_held).
    pub(crate) fn read_held(&mut self, t: Table) -> std::io::Result<Vec<Held>> {
        let mut out = Vec::new();
        self.each(t, true, |_, row, vanished| {
            out.push(Held { row, vanished });
            Ok(())
        })?;
        Ok(out)
    }

    /// Splits the spooled rows by pass in one reading: `pass_of[bucket]` names the spool of
    /// the rows of `bucket` (none: left out). Reading the whole spool once per pass made a
    /// check that differs everywhere quadratic (110 passes over 5.5M grants at 500k).
    pub(crate) fn partition(
        &mut self,
        t: Table,
        pass_of: &[Option<u16>],
        passes: usize,
    ) -> std::io::Result<Vec<Spool>> {
        let mut parts = (0..passes)
            .map(|_| Spool::buffered(PART_BUFFER))
            .collect::<std::io::Result<Vec<_>>>()?;
        self.each(t, false, |bucket, row, _| match pass_of[bucket] {
            Some(p) => parts[p as usize].push_in(bucket, &row),
            None => Ok(()),
        })?;
        Ok(parts)
    }

    /// Reads every spooled row from the start: its bucket, the row, and (`held` spools)
    /// whether it had vanished.
    fn each(
        &mut self,
        t: Table,
        held: bool,
        mut f: impl FnMut(usize, Row, bool) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.file.flush()?;
        let mut file = self.file.get_ref().try_clone()?;
        file.seek(SeekFrom::Start(0))?;
        let mut r = BufReader::with_capacity(256 * 1024, file);
        let mut head = [0u8; 4];
        loop {
            match r.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
            let bucket = u16::from_le_bytes([head[0], head[1]]) as usize;
            let (nk, nf) = (head[2] as usize, head[3] as usize);
            let mut vals = Vec::with_capacity(nk + nf);
            for _ in 0..nk + nf {
                let mut len = [0u8; 4];
                r.read_exact(&mut len)?;
                let len = u32::from_le_bytes(len);
                if len == u32::MAX {
                    vals.push(None);
                } else {
                    let mut buf = vec![0u8; len as usize];
                    r.read_exact(&mut buf)?;
                    vals.push(Some(String::from_utf8(buf).map_err(|e| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
                    })?));
                }
            }
            let mut vanished = false;
            if held {
                let mut flag = [0u8; 1];
                r.read_exact(&mut flag)?;
                vanished = flag[0] != 0;
            }
            let fields = vals.split_off(nk);
            let row = Row {
                table: t,
                key: vals.into_iter().map(Option::unwrap_or_default).collect(),
                fields,
            };
            f(bucket, row, vanished)?;
        }
        Ok(())
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Corrupt(format!("check spool: {e}"))
    }
}
