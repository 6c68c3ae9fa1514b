//! The spool of a later check: fetched rows in an unnamed temporary file, read back per
//! bucket range when their buckets differ.

use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use castellan_domain::snapshot::{Row, Table};

use crate::StoreError;

/// Fetched rows of one table, in an unnamed temporary file: each row as its bucket (u16),
/// key and fields, strings length-prefixed (u32; `u32::MAX` for a missing field).
pub(crate) struct Spool {
    pub(crate) file: BufWriter<std::fs::File>,
}

impl Spool {
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(Self {
            file: BufWriter::with_capacity(256 * 1024, tempfile::tempfile()?),
        })
    }

    pub(crate) fn push(&mut self, row: &Row) -> std::io::Result<()> {
        let w = &mut self.file;
        w.write_all(&(row.bucket() as u16).to_le_bytes())?;
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

    /// The spooled rows whose bucket is wanted.
    pub(crate) fn read(&mut self, t: Table, wanted: &[bool]) -> std::io::Result<Vec<Row>> {
        self.file.flush()?;
        let mut f = self.file.get_ref().try_clone()?;
        f.seek(SeekFrom::Start(0))?;
        let mut r = BufReader::with_capacity(256 * 1024, f);
        let mut out = Vec::new();
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
            if !wanted[bucket] {
                continue;
            }
            let fields = vals.split_off(nk);
            out.push(Row {
                table: t,
                key: vals.into_iter().map(Option::unwrap_or_default).collect(),
                fields,
            });
        }
        Ok(out)
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Corrupt(format!("check spool: {e}"))
    }
}
