//! Crash-safe file writes: everything omega writes goes to a temporary file in the same
//! directory and is renamed into place only when complete, so a reader (or a rerun after a
//! kill) sees either the old file or the whole new one, never a torn one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file being written under a temporary name next to its final path. Special files that
/// already exist (`/dev/null`, a FIFO) are written in place: renaming over them would replace
/// the device.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    /// `None` when writing in place.
    tmp: Option<PathBuf>,
    dest: PathBuf,
}

/// The temporary name used for `dest` by this process: `.NAME.PID.tmp` in the same folder.
pub fn temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

fn is_special(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

impl AtomicFile {
    pub fn create(dest: &Path) -> io::Result<Self> {
        if is_special(dest) {
            let file = fs::OpenOptions::new().write(true).open(dest)?;
            return Ok(AtomicFile {
                file: Some(file),
                tmp: None,
                dest: dest.to_path_buf(),
            });
        }
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let tmp = temp_path(dest);
        let file = File::create(&tmp)?;
        Ok(AtomicFile {
            file: Some(file),
            tmp: Some(tmp),
            dest: dest.to_path_buf(),
        })
    }

    /// Flushes to disk and renames into place.
    pub fn commit(mut self) -> io::Result<()> {
        let mut file = self.file.take().expect("file present until commit");
        let Some(tmp) = self.tmp.take() else {
            return file.flush();
        };
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &self.dest)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("open").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("open").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let (Some(_), Some(tmp)) = (self.file.take(), &self.tmp) {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Puts `from`'s bytes at `dest` atomically: a hard link (no copy) under a temporary name
/// renamed into place, or a copy where the file system has no hard links (or across file
/// systems).
pub fn link_or_copy_atomic(from: &Path, dest: &Path) -> io::Result<()> {
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = temp_path(dest);
    let _ = fs::remove_file(&tmp);
    if fs::hard_link(from, &tmp).is_ok() {
        return fs::rename(&tmp, dest);
    }
    let mut out = AtomicFile::create(dest)?;
    io::copy(&mut File::open(from)?, &mut out)?;
    out.commit()
}

/// Writes `bytes` to `dest` atomically.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.write_all(bytes)?;
    f.commit()
}

/// Writes `value` as pretty JSON, atomically (state files).
pub fn save_json<T: serde::Serialize>(dest: &Path, value: &T) -> io::Result<()> {
    write_atomic(
        dest,
        &serde_json::to_vec_pretty(value).map_err(io::Error::other)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_file_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("omega-fsutil-{}", std::process::id()));
        let dest = dir.join("a.bin");
        {
            let mut f = AtomicFile::create(&dest).unwrap();
            f.write_all(b"partial").unwrap();
        }
        assert!(!dest.exists());
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            0,
            "temporary file removed"
        );
        write_atomic(&dest, b"whole").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"whole");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn special_files_are_written_in_place_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        write_atomic(Path::new("/dev/null"), b"discarded").unwrap();
        let kind = fs::metadata("/dev/null").unwrap().file_type();
        assert!(kind.is_char_device(), "/dev/null is still a device");
    }
}
