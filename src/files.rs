//! Bounded reads of the files users hand to `budget`: workflows, pricing files and overlays, key
//! and token files, baselines, plans and journals.
//!
//! Every such file may come from a pull request or a hostile path (`/dev/zero`, a FIFO, a
//! directory, a 1 GB "key"). So a file is opened without blocking (a FIFO with no writer would
//! otherwise hang in `open`), must be a regular file, and is read only up to the cap of its kind:
//! reading stops at the cap, whatever size the file system reports. The caps are documented in
//! docs/security.md. Streaming readers (targets files, journals) use [`open`] and bound their
//! lines themselves.
//!
//! Layer 0: std and libc only; no parsing, no output.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What a file is, for its size cap and for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Workflow,
    Pricing,
    PricingOverlay,
    KeyFile,
    TokenFile,
    Baseline,
    Plan,
    Journal,
    Targets,
    Profile,
    Clients,
    /// The reservation ledger of running gates (`reservations.json`).
    Ledger,
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

impl FileKind {
    /// The most bytes read from a file of this kind.
    pub fn cap(self) -> u64 {
        match self {
            Self::Workflow | Self::Pricing => 4 * MIB,
            Self::PricingOverlay | Self::Profile | Self::Clients => MIB,
            Self::KeyFile | Self::TokenFile => 4 * KIB,
            // A saved `plan --format json` of 10,000 steps is about 3 MiB.
            Self::Baseline | Self::Plan => 32 * MIB,
            // A reservation is about 200 bytes: 32 MiB is over 100,000 running gates.
            Self::Ledger => 32 * MIB,
            // Streamed: the cap bounds the time a run can spend on one file (about 10 million
            // journal lines), not the memory.
            Self::Journal => 4096 * MIB,
            // Streamed line by line (each line is capped on its own).
            Self::Targets => u64::MAX,
        }
    }

    /// How messages name a file of this kind.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Workflow => "workflow file",
            Self::Pricing => "pricing file",
            Self::PricingOverlay => "pricing overlay",
            Self::KeyFile => "API key file",
            Self::TokenFile => "token file",
            Self::Baseline => "baseline file",
            Self::Plan => "plan file",
            Self::Journal => "journal",
            Self::Targets => "targets file",
            Self::Profile => "usage profile",
            Self::Clients => "clients file",
            Self::Ledger => "reservation ledger",
        }
    }
}

/// Why a file could not be read. The path is shown as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("cannot read the {} {}: {reason}", kind.noun(), path.display())]
    Io {
        kind: FileKind,
        path: PathBuf,
        reason: String,
    },
    #[error("the {} {} is {found}, not a regular file; give the path of a file", kind.noun(), path.display())]
    NotRegular {
        kind: FileKind,
        path: PathBuf,
        found: &'static str,
    },
    #[error("the {} {} is larger than the {} limit for such a file; is it the right file?", kind.noun(), path.display(), Size(kind.cap()))]
    TooLarge { kind: FileKind, path: PathBuf },
}

impl FileError {
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. } | Self::NotRegular { path, .. } | Self::TooLarge { path, .. } => {
                path
            }
        }
    }
}

/// A byte size as messages show it: `4 KiB`, `32 MiB`.
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            n if n >= MIB && n % MIB == 0 => write!(f, "{} MiB", n / MIB),
            n if n >= KIB && n % KIB == 0 => write!(f, "{} KiB", n / KIB),
            n => write!(f, "{n} bytes"),
        }
    }
}

/// Opens `path` for reading without blocking on a FIFO or device, and checks that it is a
/// regular file. The returned file reads in blocking mode.
pub fn open(path: &Path, kind: FileKind) -> Result<File, FileError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let io = |e: std::io::Error| FileError::Io {
        kind,
        path: path.to_path_buf(),
        reason: crate::io_reason(&e),
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let file_type = file.metadata().map_err(io)?.file_type();
    let found = if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if file_type.is_socket() {
        Some("a socket")
    } else if file_type.is_char_device() || file_type.is_block_device() {
        Some("a device")
    } else {
        Some("not a file")
    };
    if let Some(found) = found {
        return Err(FileError::NotRegular {
            kind,
            path: path.to_path_buf(),
            found,
        });
    }
    set_blocking(&file).map_err(io)?;
    Ok(file)
}

/// Clears `O_NONBLOCK`, set only so that `open` itself cannot block.
fn set_blocking(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with F_GETFL/F_SETFL and plain flag bits.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The whole file, at most its kind's cap (reading stops one byte past the cap).
pub fn read(path: &Path, kind: FileKind) -> Result<Vec<u8>, FileError> {
    let file = open(path, kind)?;
    let mut bytes = Vec::new();
    file.take(kind.cap().saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::Io {
            kind,
            path: path.to_path_buf(),
            reason: crate::io_reason(&e),
        })?;
    if bytes.len() as u64 > kind.cap() {
        return Err(FileError::TooLarge {
            kind,
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// The UTF-8 byte order mark, which editors on Windows put at the start of text files.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// `bytes` without a leading UTF-8 byte order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn refused(path: &Path, kind: FileKind, phrase: &str) {
        let message = read(path, kind).unwrap_err().to_string();
        assert!(message.contains(phrase), "{message:?} lacks {phrase:?}");
    }

    #[test]
    fn a_regular_file_within_its_cap_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        // 4 KiB = 4096 bytes is exactly the key file cap: accepted; one more byte is not.
        std::fs::write(&path, vec![b'k'; 4096]).unwrap();
        assert_eq!(read(&path, FileKind::KeyFile).unwrap().len(), 4096);
        std::fs::write(&path, vec![b'k'; 4097]).unwrap();
        refused(
            &path,
            FileKind::KeyFile,
            "is larger than the 4 KiB limit for such a file",
        );
    }

    #[test]
    fn devices_directories_and_fifos_are_refused_without_blocking() {
        // /dev/zero never ends and a FIFO without a writer blocks a plain open(): both must be
        // refused at once (the invariant: no read of a user path can hang or grow without bound).
        refused(
            Path::new("/dev/zero"),
            FileKind::Workflow,
            "the workflow file /dev/zero is a device, not a regular file",
        );
        let dir = tempfile::tempdir().unwrap();
        refused(
            dir.path(),
            FileKind::Pricing,
            "is a directory, not a regular file",
        );
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        refused(
            &fifo,
            FileKind::Targets,
            "is a FIFO (named pipe), not a regular file",
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        refused(
            Path::new("/nonexistent/w.yaml"),
            FileKind::Workflow,
            "cannot read the workflow file /nonexistent/w.yaml: no such file",
        );
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(Size(4 * KIB).to_string(), "4 KiB");
        assert_eq!(Size(32 * MIB).to_string(), "32 MiB");
        assert_eq!(Size(100).to_string(), "100 bytes");
    }

    #[test]
    fn a_bom_is_stripped_once() {
        assert_eq!(strip_bom(b"\xEF\xBB\xBFkey"), b"key");
        assert_eq!(strip_bom(b"key"), b"key");
    }
}
