//! Disk-backed `/tmp`: a private ext4 filesystem on a loop device, one per environment.
//!
//! Lambda's `/tmp` is disk, not memory: it does not count against `MemorySize`. A tmpfs would
//! (its pages are charged to the environment's memory cgroup and cannot be reclaimed without
//! swap), so a function with 128 MB could not write 400 MB to `/tmp`. Instead each environment
//! gets an image file of exactly `EphemeralStorage` bytes, allocated up front (`fallocate`: the
//! space is the host's promise, so a full `/tmp` fails with ENOSPC inside the environment and
//! never fills the host disk), formatted as ext4 and attached to a loop device. The device is
//! buffered, not direct I/O: with direct I/O each metadata read at mount time went to the disk and
//! mounting took ~18 ms instead of ~1 ms. The extra page cache of the image is reclaimable.
//!
//! Formatting is done once per size: `mkfs` runs on a sparse template, and each disk copies the
//! template's few written blocks (`copy_file_range`) before reserving the rest.
//!
//! The image file is unlinked as soon as the loop device holds it, and the device is attached
//! with auto-clear: once the environment's mount namespace is gone and the [`TmpDisk`] is
//! dropped, the kernel detaches the device and frees the file's blocks. Nothing is left behind
//! on disk, even when the server is killed.

#![allow(unsafe_code)]

use crate::{io_err, Result, SandboxError};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const LOOP_CONTROL: &str = "/dev/loop-control";
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

/// `struct loop_info64` of `<linux/loop.h>`.
#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

/// `struct loop_config` of `<linux/loop.h>` (LOOP_CONFIGURE, Linux 5.8).
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// The formatting program; `mkfs.ext4` from e2fsprogs.
pub const MKFS: &str = "mkfs.ext4";

/// Whether this machine can make disk-backed `/tmp`s; says what is missing otherwise.
pub fn available() -> std::result::Result<(), String> {
    if !Path::new(LOOP_CONTROL).exists() {
        return Err(format!("no loop devices ({LOOP_CONTROL} is missing)"));
    }
    let found = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join(MKFS).exists());
    if !found {
        return Err(format!(
            "{MKFS} is not installed (apt-get install e2fsprogs)"
        ));
    }
    Ok(())
}

/// An attached, formatted loop device for one environment's `/tmp`.
#[derive(Debug)]
pub struct TmpDisk {
    device: PathBuf,
    bytes: u64,
    /// Keeps the device attached until the environment has mounted it.
    _fd: File,
}

impl TmpDisk {
    /// Makes an image of `bytes` in `dir`, formatted, and attaches it. Blocking. The first disk
    /// of a size runs `mkfs` (~50 ms for 512 MB) on a sparse template kept open (unnamed) for
    /// the server's lifetime; every disk after that copies the template's few written blocks and
    /// reserves the rest (~1-5 ms).
    pub fn create(dir: &Path, bytes: u64) -> Result<Self> {
        let len = libc::off_t::try_from(bytes)
            .map_err(|_| SandboxError::Unavailable(format!("/tmp size {bytes} is too large")))?;
        let template = template(dir, bytes)?;
        let (image, file) = new_image(dir)?;
        let made = fill(&template, &file, len)
            .map_err(io_err(format!(
                "reserving {bytes} bytes for /tmp in {}",
                image.display()
            )))
            .and_then(|()| attach(&file));
        // Attached or not, the file has no name from here on: the device holds it, or nothing.
        let _ = std::fs::remove_file(&image);
        let (device, fd) = made?;
        Ok(Self {
            device,
            bytes,
            _fd: fd,
        })
    }

    /// The block device to mount (`/dev/loopN`).
    pub fn device(&self) -> &Path {
        &self.device
    }

    /// Its size in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// A new, empty image file in `dir`, with its name (to be removed by the caller).
fn new_image(dir: &Path) -> Result<(PathBuf, File)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let image = dir.join(format!(
        "tmpdisk-{}-{}.img",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&image)
        .map_err(io_err(format!("creating {}", image.display())))?;
    Ok((image, file))
}

/// The formatted, sparse template image of `bytes` (made once per size, then shared).
fn template(dir: &Path, bytes: u64) -> Result<Arc<File>> {
    static TEMPLATES: Mutex<Vec<(u64, Arc<File>)>> = Mutex::new(Vec::new());
    let mut templates = TEMPLATES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, t)) = templates.iter().find(|(b, _)| *b == bytes) {
        return Ok(Arc::clone(t));
    }
    let (image, file) = new_image(dir)?;
    let made = file
        .set_len(bytes)
        .map_err(io_err(format!("sizing {}", image.display())))
        .and_then(|()| mkfs(&image));
    let _ = std::fs::remove_file(&image);
    made?;
    let file = Arc::new(file);
    templates.push((bytes, Arc::clone(&file)));
    Ok(file)
}

fn mkfs(image: &Path) -> Result<()> {
    // At the lowest CPU priority: disks are made ahead, while environments start.
    let out = Command::new("nice")
        .args([
            "-n",
            "19",
            MKFS,
            "-q",
            "-F",
            "-m",
            "0",
            "-i",
            "16384",
            "-O",
            "^has_journal",
            "-E",
            "lazy_itable_init=1,nodiscard",
        ])
        .arg(image)
        .env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(io_err(format!("running {MKFS}")))?;
    if !out.status.success() {
        return Err(SandboxError::Unavailable(format!(
            "{MKFS} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Copies the written ranges of the sparse `template` into `file` at the same offsets, then
/// reserves all `len` bytes of `file` (the rest reads as zeros, as in the template).
fn fill(template: &File, file: &File, len: libc::off_t) -> std::io::Result<()> {
    let (src, dst) = (template.as_raw_fd(), file.as_raw_fd());
    let mut offset: libc::off_t = 0;
    loop {
        // SAFETY: lseek(2) on a descriptor we own; no memory is passed.
        let data = unsafe { libc::lseek(src, offset, libc::SEEK_DATA) };
        if data < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENXIO) {
                break; // no data past `offset`
            }
            return Err(err);
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(src, data, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let (mut from, mut to) = (data, data);
        while from < hole {
            let want = usize::try_from(hole - from).unwrap_or(usize::MAX);
            // SAFETY: copy_file_range(2) between descriptors we own, with offsets in locals
            // that live across the call.
            let n = unsafe { libc::copy_file_range(src, &mut from, dst, &mut to, want, 0) };
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if n == 0 {
                break;
            }
        }
        offset = hole;
    }
    // SAFETY: fallocate(2) on a descriptor we own; no memory is passed.
    if unsafe { libc::fallocate(dst, 0, 0, len) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Attaches `backing` to a free loop device with auto-clear; returns the device and a
/// descriptor holding it.
fn attach(backing: &File) -> Result<(PathBuf, File)> {
    let control = OpenOptions::new()
        .read(true)
        .write(true)
        .open(LOOP_CONTROL)
        .map_err(io_err(format!("opening {LOOP_CONTROL}")))?;
    // The free device is only free until someone configures it: one attach at a time in this
    // process, and retries for other processes on the host doing the same.
    static ATTACHING: Mutex<()> = Mutex::new(());
    let _one = ATTACHING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut last = None;
    for _ in 0..64 {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number.
        let n = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE) };
        if n < 0 {
            return Err(SandboxError::Io {
                what: "finding a free loop device".into(),
                source: std::io::Error::last_os_error(),
            });
        }
        let device = PathBuf::from(format!("/dev/loop{n}"));
        let fd = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&device)
            .map_err(io_err(format!("opening {}", device.display())))?;
        {
            let config = LoopConfig {
                fd: u32::try_from(backing.as_raw_fd()).unwrap_or(u32::MAX),
                block_size: 0,
                info: LoopInfo64 {
                    lo_device: 0,
                    lo_inode: 0,
                    lo_rdevice: 0,
                    lo_offset: 0,
                    lo_sizelimit: 0,
                    lo_number: 0,
                    lo_encrypt_type: 0,
                    lo_encrypt_key_size: 0,
                    lo_flags: LO_FLAGS_AUTOCLEAR,
                    lo_file_name: [0; 64],
                    lo_crypt_name: [0; 64],
                    lo_encrypt_key: [0; 32],
                    lo_init: [0; 2],
                },
                reserved: [0; 8],
            };
            // SAFETY: LOOP_CONFIGURE reads a `struct loop_config`, which `config` lays out
            // exactly (repr(C)) and which lives across the call.
            let rc = unsafe {
                libc::ioctl(fd.as_raw_fd(), LOOP_CONFIGURE, &config as *const LoopConfig)
            };
            if rc == 0 {
                return Ok((device, fd));
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EBUSY) {
                return Err(SandboxError::Io {
                    what: format!("attaching {}", device.display()),
                    source: err,
                });
            }
            // Taken by someone else meanwhile: ask for another free device.
            last = Some(err);
        }
    }
    Err(SandboxError::Io {
        what: "attaching a loop device".into(),
        source: last.unwrap_or_else(|| std::io::Error::from_raw_os_error(libc::EBUSY)),
    })
}
