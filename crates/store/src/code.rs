//! Deployment packages on disk, content-addressed by SHA-256.
//!
//! A package is checked completely before anything is kept: it must be a readable zip, no entry may
//! leave the package root (zip-slip), and the unpacked bytes are counted while they are written, so
//! a zip bomb stops at the limit whatever sizes its headers claim. The package is unpacked into a
//! temporary directory and renamed into place, so a crash never leaves half a package behind.
//! A package declaring more than [`MAX_ZIP_ENTRIES`] entries is refused before its central
//! directory is read.
//!
//! What is the package's fault (a corrupt archive, too large, too many entries) is
//! [`StoreError::InvalidPackage`] or [`StoreError::PackageTooLarge`]; what is the store's (a full
//! disk, an I/O error while writing) is [`StoreError::Io`], and leaves nothing behind.
//!
//! Zips are private to the server's user (`code/` is 0700, each zip 0600); the unpacked trees under
//! `tasks/` keep world-readable files, because environments run as other uids and see them
//! through a bind mount at `/var/task` (the mount is made as root, so `tasks/` itself and the data
//! directory above it may stay closed).

use crate::{Result, StoreError};
use kumo_types::{MAX_UNZIPPED_BYTES, MAX_ZIP_BYTES, MAX_ZIP_ENTRIES};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What the store knows about a stored package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeInfo {
    /// Lower-case hex SHA-256.
    pub sha256_hex: String,
    pub size: u64,
}

impl CodeInfo {
    /// Lambda's `CodeSha256`: the base64 of the SHA-256 digest.
    pub fn sha256_base64(&self) -> String {
        sha256_base64(&self.sha256_hex)
    }
}

/// Converts a hex SHA-256 into Lambda's base64 form.
pub fn sha256_base64(hex_digest: &str) -> String {
    use base64::Engine as _;
    let bytes = hex::decode(hex_digest).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Packages under `<data-dir>/code` and their unpacked trees under `<data-dir>/tasks`.
#[derive(Debug, Clone)]
pub struct CodeStore {
    code_dir: PathBuf,
    tasks_dir: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

impl CodeStore {
    pub fn open(data_dir: &Path) -> Result<Self> {
        let code_dir = data_dir.join("code");
        let tasks_dir = data_dir.join("tasks");
        for dir in [&code_dir, &tasks_dir] {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))?;
        }
        // Uploads that a crash interrupted leave `.tmp-*` directories and `*.zip.tmp-*` files.
        if let Ok(entries) = fs::read_dir(&tasks_dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        // Zips stored by older versions were readable by everyone.
        if let Ok(entries) = fs::read_dir(&code_dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_name().to_string_lossy().contains(".zip.tmp-") {
                    let _ = fs::remove_file(&path);
                } else if entry.file_type().is_ok_and(|t| t.is_file()) {
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                        .map_err(io_err(&path))?;
                }
            }
        }
        Ok(Self {
            code_dir,
            tasks_dir,
        })
    }

    /// Checks, stores and unpacks a package. Blocking: call it off the async runtime.
    pub fn put(&self, zip_bytes: &[u8]) -> Result<CodeInfo> {
        if zip_bytes.len() as u64 > MAX_ZIP_BYTES {
            return Err(StoreError::PackageTooLarge(format!(
                "Zipped size must be smaller than {MAX_ZIP_BYTES} bytes"
            )));
        }
        // Before anything that reads the whole package (hashing 50 MB is not free either).
        crate::zip_entries::check_declared(zip_bytes).map_err(too_many_entries)?;
        let sha256_hex = hex::encode(Sha256::digest(zip_bytes));
        let info = CodeInfo {
            sha256_hex,
            size: zip_bytes.len() as u64,
        };
        let task_dir = self.task_dir(&info.sha256_hex);
        let zip_path = self.zip_path(&info.sha256_hex);
        if task_dir.is_dir() && zip_path.is_file() {
            return Ok(info);
        }
        // Names of its own for every call: concurrent uploads of the same package must not
        // write into each other's files.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let unique = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let tmp = self
            .tasks_dir
            .join(format!(".tmp-{}-{unique}", info.sha256_hex));
        let zip_tmp = zip_path.with_extension(format!("zip.tmp-{unique}"));
        let stored = self.store_new(zip_bytes, &tmp, &zip_tmp, &zip_path, &task_dir);
        // Whatever failed (a bad package, a full disk), nothing half-written stays.
        let _ = fs::remove_dir_all(&tmp);
        let _ = fs::remove_file(&zip_tmp);
        stored.map(|()| info)
    }

    /// Unpacks into `tmp`, writes the zip to `zip_tmp`, then renames both into place.
    fn store_new(
        &self,
        zip_bytes: &[u8],
        tmp: &Path,
        zip_tmp: &Path,
        zip_path: &Path,
        task_dir: &Path,
    ) -> Result<()> {
        fs::create_dir_all(tmp).map_err(io_err(tmp))?;
        unpack(zip_bytes, tmp)?;
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(zip_tmp)
            .map_err(io_err(zip_tmp))?;
        out.write_all(zip_bytes).map_err(io_err(zip_tmp))?;
        drop(out);
        fs::rename(zip_tmp, zip_path).map_err(io_err(zip_path))?;
        match fs::rename(tmp, task_dir) {
            Ok(()) => Ok(()),
            // Another request stored the same package meanwhile.
            Err(_) if task_dir.is_dir() => Ok(()),
            Err(e) => Err(io_err(task_dir)(e)),
        }
    }

    pub fn zip_path(&self, sha256_hex: &str) -> PathBuf {
        self.code_dir.join(format!("{sha256_hex}.zip"))
    }

    pub fn task_dir(&self, sha256_hex: &str) -> PathBuf {
        self.tasks_dir.join(sha256_hex)
    }

    /// The digests of every stored package.
    pub fn packages(&self) -> Vec<String> {
        let is_digest = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let mut out: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        for entry in fs::read_dir(&self.code_dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(sha) = name.strip_suffix(".zip").filter(|s| is_digest(s)) {
                out.insert(sha.to_owned());
            }
        }
        for entry in fs::read_dir(&self.tasks_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_digest(&name) {
                out.insert(name);
            }
        }
        out.into_iter().collect()
    }

    /// Deletes a package: its zip and its unpacked tree. Blocking.
    pub fn remove(&self, sha256_hex: &str) -> Result<()> {
        let zip = self.zip_path(sha256_hex);
        match fs::remove_file(&zip) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&zip)(e)),
        }
        // Out of the way first, so the package is never seen half deleted.
        let dir = self.task_dir(sha256_hex);
        let doomed = self
            .tasks_dir
            .join(format!(".tmp-{sha256_hex}-removed-{}", std::process::id()));
        match fs::rename(&dir, &doomed) {
            Ok(()) => fs::remove_dir_all(&doomed).map_err(io_err(&doomed)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&dir)(e)),
        }
    }

    /// The stored package bytes, if `sha256_hex` names one.
    pub fn read(&self, sha256_hex: &str) -> Option<Vec<u8>> {
        if sha256_hex.len() != 64 || !sha256_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        fs::read(self.zip_path(sha256_hex)).ok()
    }
}

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::InvalidPackage(msg.into())
}

fn too_many_entries(count: u64) -> StoreError {
    invalid(format!(
        "Could not unzip uploaded file: the package has {count} entries; at most {MAX_ZIP_ENTRIES} are supported"
    ))
}

/// Copies one entry to `out`, at most `limit + 1` bytes. Reading is the package's side (a corrupt
/// entry is an invalid package); writing is the store's (a full disk is an I/O error).
fn copy_entry(entry: &mut impl Read, out: &mut fs::File, path: &Path, limit: u64) -> Result<u64> {
    let mut from = entry.take(limit.saturating_add(1));
    let mut buf = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(written),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(invalid(format!("Could not unzip uploaded file: {e}"))),
        };
        out.write_all(&buf[..n]).map_err(io_err(path))?;
        written += n as u64;
    }
}

fn unpack(zip_bytes: &[u8], dest: &Path) -> Result<()> {
    let mut archive = zip::ZipArchive::new(io::Cursor::new(zip_bytes))
        .map_err(|e| invalid(format!("Could not unzip uploaded file. Please check your file, then try to upload again. ({e})")))?;
    if archive.len() as u64 > MAX_ZIP_ENTRIES {
        return Err(too_many_entries(archive.len() as u64));
    }
    let mut budget = MAX_UNZIPPED_BYTES;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| invalid(format!("Could not unzip uploaded file: {e}")))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(invalid(format!(
                "Could not unzip uploaded file: entry '{}' leaves the package root",
                entry.name()
            )));
        };
        let path = dest.join(rel);
        if entry.is_dir() {
            fs::create_dir_all(&path).map_err(io_err(&path))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let mode = entry.unix_mode();
        if entry.is_symlink() {
            let mut target = String::new();
            entry
                .read_to_string(&mut target)
                .map_err(|e| invalid(format!("Could not unzip uploaded file: {e}")))?;
            let escapes = Path::new(&target).is_absolute()
                || Path::new(&target)
                    .components()
                    .any(|c| c == std::path::Component::ParentDir);
            if escapes {
                return Err(invalid(format!(
                    "Could not unzip uploaded file: symbolic link '{}' points outside the package",
                    entry.name()
                )));
            }
            std::os::unix::fs::symlink(&target, &path).map_err(io_err(&path))?;
            continue;
        }
        let mut out = fs::File::create(&path).map_err(io_err(&path))?;
        let written = copy_entry(&mut entry, &mut out, &path, budget)?;
        if written > budget {
            return Err(StoreError::PackageTooLarge(format!(
                "Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
            )));
        }
        budget -= written;
        if let Some(mode) = mode {
            // Keep the execute bits (a `bootstrap` must stay executable); never setuid/setgid.
            let mode = (mode & 0o777) | 0o444;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// The package operations on the blocking pool: every one of them touches the file system.
#[async_trait::async_trait]
impl crate::CodePackages for CodeStore {
    async fn put(&self, zip: Vec<u8>) -> Result<CodeInfo> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || CodeStore::put(&store, &zip)).await?
    }

    async fn read(&self, sha256_hex: &str) -> Result<Option<Vec<u8>>> {
        let (store, sha) = (self.clone(), sha256_hex.to_owned());
        Ok(tokio::task::spawn_blocking(move || CodeStore::read(&store, &sha)).await?)
    }

    async fn unpacked(&self, sha256_hex: &str) -> Result<PathBuf> {
        // Packages are unpacked when stored: the tree is already here.
        Ok(self.task_dir(sha256_hex))
    }

    async fn packages(&self) -> Result<Vec<String>> {
        let store = self.clone();
        Ok(tokio::task::spawn_blocking(move || CodeStore::packages(&store)).await?)
    }

    async fn remove(&self, sha256_hex: &str) -> Result<()> {
        let (store, sha) = (self.clone(), sha256_hex.to_owned());
        tokio::task::spawn_blocking(move || CodeStore::remove(&store, &sha)).await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn concurrent_uploads_of_the_same_package_all_succeed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CodeStore::open(dir.path()).expect("open");
        for round in 0..5 {
            let files: Vec<(String, Vec<u8>)> = (0..200)
                .map(|i| {
                    (
                        format!("pkg/m{i}.py"),
                        format!("X = {round}{i}\n").into_bytes(),
                    )
                })
                .collect();
            let entries: Vec<(&str, &[u8])> = files
                .iter()
                .map(|(n, d)| (n.as_str(), d.as_slice()))
                .collect();
            let zip = zip_of(&entries);
            let threads: Vec<_> = (0..16)
                .map(|_| {
                    let (store, zip) = (store.clone(), zip.clone());
                    std::thread::spawn(move || store.put(&zip))
                })
                .collect();
            for t in threads {
                let info = t.join().expect("thread").expect("put");
                assert!(store
                    .task_dir(&info.sha256_hex)
                    .join("pkg/m199.py")
                    .is_file());
            }
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("code"))
            .expect("code dir")
            .chain(fs::read_dir(dir.path().join("tasks")).expect("tasks dir"))
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .expect("start entry");
            w.write_all(data).expect("write entry");
        }
        w.finish().expect("finish zip").into_inner()
    }

    #[test]
    fn stores_and_unpacks_a_package() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CodeStore::open(dir.path()).expect("open");
        let bytes = zip_of(&[
            ("app.py", b"def handler(e, c): return 1\n"),
            ("pkg/mod.py", b"x = 1\n"),
        ]);
        let info = store.put(&bytes).expect("valid package");
        assert_eq!(info.size, bytes.len() as u64);
        let task = store.task_dir(&info.sha256_hex);
        assert!(task.join("app.py").is_file());
        assert!(task.join("pkg/mod.py").is_file());
        assert_eq!(store.read(&info.sha256_hex), Some(bytes));
    }

    #[test]
    fn a_full_disk_is_an_io_error_not_a_bad_package() {
        let mut full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let copied = copy_entry(
            &mut io::Cursor::new(vec![7u8; 1000]),
            &mut full,
            Path::new("/dev/full"),
            MAX_UNZIPPED_BYTES,
        );
        match copied {
            // ENOSPC
            Err(StoreError::Io { source, .. }) => assert_eq!(source.raw_os_error(), Some(28)),
            other => panic!("expected an I/O error, got {other:?}"),
        }
    }

    #[test]
    fn too_many_entries_are_refused_before_unpacking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CodeStore::open(dir.path()).expect("open");
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for i in 0..=MAX_ZIP_ENTRIES {
            w.start_file(i.to_string(), stored).expect("start entry");
        }
        let bytes = w.finish().expect("finish zip").into_inner();
        match store.put(&bytes) {
            Err(StoreError::InvalidPackage(m)) => assert!(m.contains("65536 entries"), "{m}"),
            other => panic!("expected an invalid package, got {other:?}"),
        }
        assert_eq!(
            fs::read_dir(dir.path().join("tasks"))
                .map(Iterator::count)
                .ok(),
            Some(0)
        );
    }

    #[test]
    fn packages_are_private_and_old_ones_are_tightened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CodeStore::open(dir.path()).expect("open");
        let info = store.put(&zip_of(&[("app.py", b"x = 1\n")])).expect("put");
        let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        let zip = store.zip_path(&info.sha256_hex);
        assert_eq!(mode(&zip), 0o600);
        assert_eq!(mode(&dir.path().join("code")), 0o700);
        // Environments (other uids) read the unpacked tree through a bind mount.
        assert_eq!(
            mode(&store.task_dir(&info.sha256_hex).join("app.py")) & 0o004,
            0o004
        );
        fs::set_permissions(&zip, fs::Permissions::from_mode(0o644)).expect("chmod");
        fs::set_permissions(dir.path().join("code"), fs::Permissions::from_mode(0o755))
            .expect("chmod");
        CodeStore::open(dir.path()).expect("reopen");
        assert_eq!(mode(&zip), 0o600);
        assert_eq!(mode(&dir.path().join("code")), 0o700);
    }

    #[test]
    fn rejects_zip_slip_and_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CodeStore::open(dir.path()).expect("open");
        let evil = zip_of(&[("../evil.py", b"boom")]);
        assert!(matches!(
            store.put(&evil),
            Err(StoreError::InvalidPackage(_))
        ));
        assert!(matches!(
            store.put(b"not a zip"),
            Err(StoreError::InvalidPackage(_))
        ));
        assert_eq!(
            fs::read_dir(dir.path().join("tasks"))
                .map(Iterator::count)
                .ok(),
            Some(0)
        );
    }
}
