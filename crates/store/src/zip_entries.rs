//! How many entries a zip declares, read before the zip library reads its central directory.
//!
//! The library reads as many central directory records as the archive's end record declares,
//! keeping each in memory: a 50 MB package of empty files declares about 600,000 of them, which
//! costs hundreds of megabytes and seconds before anything could count them. A classic end record
//! counts entries in 16 bits, so only a ZIP64 end record can declare more than
//! [`MAX_ZIP_ENTRIES`]; this module finds the ZIP64 records the library could use and reads their
//! counts, which costs one pass over the bytes.
//!
//! The library uses a ZIP64 end record only through a locator that sits right before a classic
//! end record, and looks for it between the offset the locator names and the locator itself.
//! Every such record is checked, so no archive reaches the library declaring more; a stray
//! signature inside compressed data counts only if a locator and an end record follow it too.

use kumo_types::MAX_ZIP_ENTRIES;
use memchr::memmem;

const EOCD_SIG: &[u8; 4] = b"PK\x05\x06";
const EOCD64_SIG: &[u8; 4] = b"PK\x06\x06";
const LOCATOR_SIG: &[u8; 4] = b"PK\x06\x07";
/// The locator's length: the classic end record follows it directly.
const LOCATOR_LEN: usize = 20;

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let raw = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(raw.try_into().ok()?))
}

/// The larger entry count a ZIP64 end record at `at` declares (entries on its disk, in all).
fn declared_at(bytes: &[u8], at: usize) -> u64 {
    let on_disk = u64_at(bytes, at + 24).unwrap_or(0);
    let total = u64_at(bytes, at + 32).unwrap_or(0);
    on_disk.max(total)
}

/// `Err(count)` when a ZIP64 end record the zip library could use declares more than
/// [`MAX_ZIP_ENTRIES`] entries.
pub(crate) fn check_declared(bytes: &[u8]) -> Result<(), u64> {
    // Positions (ascending) of ZIP64 end records declaring too many entries.
    let too_many: Vec<(usize, u64)> = memmem::find_iter(bytes, EOCD64_SIG)
        .map(|at| (at, declared_at(bytes, at)))
        .filter(|(_, count)| *count > MAX_ZIP_ENTRIES)
        .collect();
    if too_many.is_empty() {
        return Ok(());
    }
    for locator in memmem::find_iter(bytes, LOCATOR_SIG) {
        let end = locator + LOCATOR_LEN;
        if bytes.get(end..end + EOCD_SIG.len()) != Some(EOCD_SIG.as_slice()) {
            continue;
        }
        let from = u64_at(bytes, locator + 8).unwrap_or(0);
        let first = too_many.partition_point(|(at, _)| (*at as u64) < from);
        if let Some((at, count)) = too_many.get(first) {
            if *at < locator {
                return Err(*count);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of_empty_files(n: u64) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for i in 0..n {
            w.start_file(format!("{i}"), options).expect("start entry");
        }
        w.finish().expect("finish zip").into_inner()
    }

    #[test]
    fn a_zip64_archive_declaring_too_many_entries_is_caught_before_parsing() {
        let bytes = zip_of_empty_files(MAX_ZIP_ENTRIES + 1);
        assert_eq!(check_declared(&bytes), Err(MAX_ZIP_ENTRIES + 1));
    }

    #[test]
    fn ordinary_archives_and_stray_signatures_pass() {
        assert_eq!(check_declared(&zip_of_empty_files(3)), Ok(()));
        // A stray ZIP64 end record in file data, with no locator after it.
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("data.bin", stored).expect("start entry");
        let mut stray = EOCD64_SIG.to_vec();
        stray.extend_from_slice(&[0xff; 40]);
        w.write_all(&stray).expect("write entry");
        let bytes = w.finish().expect("finish zip").into_inner();
        assert!(memmem::find(&bytes, EOCD64_SIG).is_some());
        assert_eq!(check_declared(&bytes), Ok(()));
    }
}
