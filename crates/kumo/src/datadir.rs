//! The data directory of `kumo serve`: one server per directory, private to the server's user.
//!
//! [`DataDirLock::acquire`] runs before anything else touches the directory. It takes an
//! exclusive `flock` on `<data-dir>/lock`, held as long as the process lives (the kernel lets go
//! when it exits, however it exits), and writes the holder's pid into the file. A second server
//! on the same directory finds the lock taken and stops with the holder's pid, before it cleans
//! leftover environments, re-queues events or opens the database: all of those belong to the
//! running server.
//!
//! The directory holds every function's environment variables (in the database), the generated
//! credentials and the code packages, so it is made 0700 and the files at its top 0600, on every
//! start (directories of older versions were world-readable). Environments run as other uids, but
//! they see code and bootstraps only through bind mounts made as root, so nothing of the data
//! directory needs to be open to them.

use anyhow::{bail, Context, Result};
use std::fs;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "lock";

/// The exclusive hold on a data directory; dropping it (or exiting) lets go.
#[derive(Debug)]
pub struct DataDirLock {
    _file: fs::File,
}

/// `flock(LOCK_EX | LOCK_NB)`: `Ok(false)` when another open file holds the lock.
#[allow(unsafe_code)]
fn try_lock(file: &fs::File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock(2) takes a descriptor and flags and touches no memory; `file` owns the
    // descriptor and outlives the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

impl DataDirLock {
    /// Creates the data directory (0700) if needed and takes its lock; fails, having changed
    /// nothing, when another server holds it.
    pub fn acquire(data_dir: &Path) -> Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("while creating data directory {}", data_dir.display()))?;
        let path = data_dir.join(LOCK_FILE);
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("while opening {}", path.display()))?;
        if !try_lock(&file).with_context(|| format!("while locking {}", path.display()))? {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "pid unknown".to_owned(),
                pid => format!("pid {pid}"),
            };
            bail!(
                "data directory {} is in use by another kumo serve ({holder}); stop it or choose another --data-dir",
                data_dir.display()
            );
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .with_context(|| format!("while writing {}", path.display()))?;
        Ok(Self { _file: file })
    }
}

/// Makes the data directory 0700 and every file at its top 0600 (the database and its `-wal` and
/// `-shm` files, the credentials, the lock). A directory shared with others (sticky bit, as
/// `/tmp`) keeps its mode, with a warning: it is not Kumo's to close.
pub fn make_private(data_dir: &Path) -> Result<()> {
    let meta = fs::metadata(data_dir)
        .with_context(|| format!("while reading the mode of {}", data_dir.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o1000 != 0 {
        tracing::warn!(
            data_dir = %data_dir.display(),
            mode = format!("{:o}", mode & 0o7777),
            "the data directory is shared with other users; give Kumo a directory of its own"
        );
    } else if mode & 0o777 != 0o700 {
        fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("while making {} private", data_dir.display()))?;
        tracing::info!(data_dir = %data_dir.display(), was = format!("{:o}", mode & 0o777), "data directory made private (0700)");
    }
    let entries =
        fs::read_dir(data_dir).with_context(|| format!("while listing {}", data_dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("while listing {}", data_dir.display()))?;
        let path = entry.path();
        // Not followed: a link is not the data directory's own file.
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                .with_context(|| format!("while making {} private", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    #[test]
    fn a_second_lock_on_the_same_directory_fails_and_names_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let held = DataDirLock::acquire(&data).expect("first lock");
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join(LOCK_FILE)), 0o600);
        let err = DataDirLock::acquire(&data).expect_err("second lock");
        let msg = format!("{err:#}");
        assert!(
            msg.contains(&format!(
                "is in use by another kumo serve (pid {})",
                std::process::id()
            )),
            "{msg}"
        );
        drop(held);
        DataDirLock::acquire(&data).expect("lock after release");
    }

    #[test]
    fn an_open_data_directory_is_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path();
        fs::set_permissions(data, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::write(data.join("kumo.db"), b"").expect("write");
        fs::set_permissions(data.join("kumo.db"), fs::Permissions::from_mode(0o644))
            .expect("chmod");
        fs::create_dir(data.join("runtime")).expect("mkdir");
        make_private(data).expect("make private");
        assert_eq!(mode(data), 0o700);
        assert_eq!(mode(&data.join("kumo.db")), 0o600);
        // Directories below keep their modes: bootstraps must stay readable to environments.
        assert_eq!(mode(&data.join("runtime")) & 0o005, 0o005);
    }

    #[test]
    fn a_shared_directory_keeps_its_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o1777)).expect("chmod");
        make_private(dir.path()).expect("make private");
        assert_eq!(mode(dir.path()), 0o1777);
    }
}
