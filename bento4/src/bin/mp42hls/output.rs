//! Output files: each is written under a temporary name beside its target and
//! renamed into place, so no reader ever sees half a file; on failure everything
//! this run renamed into place is removed again.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Default)]
pub struct Outputs {
    written: Vec<PathBuf>,
    pending: Option<PathBuf>,
}

/// A file being written under its temporary name.
pub struct Pending {
    temp: PathBuf,
    target: PathBuf,
    file: BufWriter<File>,
}

impl Pending {
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }
}

fn temp_name(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.tmp{}", std::process::id()))
}

impl Outputs {
    pub fn begin(&mut self, target: &Path) -> io::Result<Pending> {
        let temp = temp_name(target);
        self.pending = Some(temp.clone());
        let file = File::create(&temp)?;
        Ok(Pending {
            temp,
            target: target.to_path_buf(),
            file: BufWriter::with_capacity(1 << 20, file),
        })
    }

    pub fn finish(&mut self, pending: Pending) -> io::Result<()> {
        let Pending { temp, target, file } = pending;
        file.into_inner().map_err(|e| e.into_error())?;
        fs::rename(&temp, &target)?;
        self.pending = None;
        self.written.push(target);
        Ok(())
    }

    pub fn write_file(&mut self, target: &Path, bytes: &[u8]) -> io::Result<()> {
        let temp = temp_name(target);
        self.pending = Some(temp.clone());
        fs::write(&temp, bytes)?;
        fs::rename(&temp, target)?;
        self.pending = None;
        self.written.push(target.to_path_buf());
        Ok(())
    }

    /// Removes the temporary file in flight and every file this run put in place.
    pub fn remove_all(&mut self) {
        if let Some(temp) = self.pending.take() {
            let _ = fs::remove_file(temp);
        }
        for path in self.written.drain(..) {
            let _ = fs::remove_file(path);
        }
    }
}
