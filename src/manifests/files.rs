//! Manifest files on disk: the paths given, directories walked, each file read with a bound.
//!
//! In: paths as the user gave them, and [`ReadOptions`]. Out: each regular file's bytes
//! (at most [`MAX_FILE_BYTES`] of them) handed to the parser, and a clear [`InputError`]
//! for every path that is not read: missing, unreadable, too deep, too large, or not a
//! regular file. Only regular files are opened for reading. A character device (`/dev/zero`),
//! a FIFO, a socket, or a symbolic link to any of them is refused from its file type
//! before it is opened, so nothing here reads without end or blocks on a FIFO with no
//! writer; the type is checked again on the opened file, which is opened non-blocking, so
//! a file swapped for a FIFO between the two checks cannot block either. Every read is
//! bounded by the bytes actually read, never by the size a file claims (a device claims 0).
//!
//! A directory walk is iterative (no recursion, so depth cannot overflow the stack), sorted,
//! skips hidden entries and files without a manifest extension, and follows symbolic
//! links to files and directories, visiting each directory once. Every other path it cannot
//! read is an error, so a manifest is never silently left unjudged; with
//! [`ReadOptions::skip_unreadable`] those paths are handed to [`InputSink::skipped`]
//! instead.

use std::collections::HashSet;
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{InputError, InputSink, parse_into};

/// Largest manifest file read (a `kubectl get -A -o yaml` of a large cluster fits).
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// How paths that cannot be read are treated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Hand paths a directory walk cannot read to [`InputSink::skipped`] instead of
    /// reporting them as errors. Paths given by name are always errors.
    pub skip_unreadable: bool,
}

/// Reads every path (`-` reads `stdin`), handing each object and problem to `sink` as
/// soon as it is read: one file's bytes are held at a time.
pub fn read_paths(
    paths: &[PathBuf],
    stdin: &mut dyn Read,
    sink: &mut dyn InputSink,
    options: ReadOptions,
) {
    for path in paths {
        if path.as_os_str() == "-" {
            match read_bounded(stdin, 0) {
                Ok(bytes) => parse_into(&bytes, "-", sink),
                Err(e) => sink.error(InputError::file(
                    "-",
                    format!("cannot read standard input: {e}"),
                )),
            }
            continue;
        }
        let name = path.display().to_string();
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, sink, options),
            Ok(meta) => match check_regular(&meta, Given::ByName) {
                Ok(()) => read_file(path, &name, sink),
                Err(why) => sink.error(InputError::file(&name, why)),
            },
            Err(e) => sink.error(InputError::file(&name, format!("cannot read: {e}"))),
        }
    }
}

/// Reads at most [`MAX_FILE_BYTES`] + 1 bytes: one more than the limit tells an input over
/// it, which [`parse_into`] refuses. `expected` is the size the file says it has (0 when
/// unknown): the buffer is made that large at once, not grown by doubling and copying.
fn read_bounded(reader: &mut dyn Read, expected: u64) -> std::io::Result<Vec<u8>> {
    // One byte more than expected, so reading to the end needs no growth to see it.
    let capacity = expected.min(MAX_FILE_BYTES).saturating_add(1);
    let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    reader.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// How a path came to be read, for the wording of a refusal.
#[derive(Clone, Copy)]
enum Given {
    ByName,
    InWalk,
}

/// Refuses anything but a regular file, naming what it is.
fn check_regular(meta: &Metadata, given: Given) -> Result<(), String> {
    if meta.is_file() {
        return Ok(());
    }
    let what = file_type_name(meta);
    let hint = match given {
        Given::ByName if what.contains("FIFO") || what.contains("character device") => {
            "; to read a pipe or a terminal, give --path - and send the manifests on standard input"
        }
        _ => "",
    };
    Err(format!(
        "not a regular file ({what}); only regular files, directories and - are read{hint}"
    ))
}

#[cfg(unix)]
fn file_type_name(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn file_type_name(meta: &Metadata) -> &'static str {
    if meta.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// Opens a file for reading without ever blocking on a FIFO.
#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// Reads one file whose type was checked, bounded by the bytes actually read.
fn read_file(path: &Path, name: &str, sink: &mut dyn InputSink) {
    let cannot = |e: std::io::Error| InputError::file(name, format!("cannot read: {e}"));
    let mut file = match open_nonblocking(path) {
        Ok(f) => f,
        Err(e) => return sink.error(cannot(e)),
    };
    // The path may have been replaced since its type was checked: check what was opened.
    let expected = match file.metadata() {
        Ok(meta) => {
            if let Err(why) = check_regular(&meta, Given::ByName) {
                return sink.error(InputError::file(name, why));
            }
            if meta.len() > MAX_FILE_BYTES {
                return sink.error(InputError::file(name, too_large(meta.len())));
            }
            meta.len()
        }
        Err(e) => return sink.error(cannot(e)),
    };
    match read_bounded(&mut file, expected) {
        Ok(bytes) if bytes.len() as u64 > MAX_FILE_BYTES => {
            sink.error(InputError::file(name, too_large(bytes.len() as u64)));
        }
        Ok(bytes) => parse_into(&bytes, name, sink),
        Err(e) => sink.error(cannot(e)),
    }
}

fn too_large(size: u64) -> String {
    if size == MAX_FILE_BYTES + 1 {
        return format!(
            "file is larger than the {} MiB limit for one manifest file; split it",
            MAX_FILE_BYTES / 1048576
        );
    }
    format!(
        "file is {:.1} MiB, larger than the {} MiB limit for one manifest file; split it",
        size as f64 / 1048576.0,
        MAX_FILE_BYTES / 1048576
    )
}

fn is_manifest_name(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// A directory's identity, so a symbolic link back up the tree is not walked twice.
#[cfg(unix)]
fn identity(meta: &Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity(_: &Metadata) -> Option<(u64, u64)> {
    None
}

/// Walks `root` depth-first in sorted order with an explicit stack.
fn walk(root: &Path, sink: &mut dyn InputSink, options: ReadOptions) {
    let unreadable = |sink: &mut dyn InputSink, path: &Path, why: String| {
        let error = InputError::file(&path.display().to_string(), why);
        if options.skip_unreadable {
            sink.skipped(error);
        } else {
            sink.error(error);
        }
    };
    let mut visited: HashSet<(u64, u64)> = HashSet::new();
    if let Some(id) = std::fs::metadata(root).ok().as_ref().and_then(identity) {
        visited.insert(id);
    }
    // Entries still to visit, last first: a directory's entries are pushed in reverse.
    let mut stack: Vec<PathBuf> = Vec::new();
    push_entries(root, &mut stack, sink, &unreadable);
    while let Some(path) = stack.pop() {
        if is_hidden(&path) {
            continue;
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                unreadable(sink, &path, format!("cannot read: {e}"));
                continue;
            }
        };
        let is_link = meta.file_type().is_symlink();
        if !is_link && !meta.is_dir() && !is_manifest_name(&path) {
            continue;
        }
        // A symbolic link is judged by what it points to.
        let meta = if is_link {
            match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) if is_manifest_name(&path) => {
                    unreadable(sink, &path, format!("cannot read: {e}"));
                    continue;
                }
                // A dangling link with another name is nothing we would have read.
                Err(_) => continue,
            }
        } else {
            meta
        };
        if meta.is_dir() {
            let first_visit = identity(&meta).is_none_or(|id| visited.insert(id));
            if first_visit {
                push_entries(&path, &mut stack, sink, &unreadable);
            }
            continue;
        }
        if !is_manifest_name(&path) {
            continue;
        }
        match check_regular(&meta, Given::InWalk) {
            Ok(()) => read_file(&path, &path.display().to_string(), sink),
            Err(why) => unreadable(sink, &path, why),
        }
    }
}

fn push_entries(
    dir: &Path,
    stack: &mut Vec<PathBuf>,
    sink: &mut dyn InputSink,
    unreadable: &dyn Fn(&mut dyn InputSink, &Path, String),
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            unreadable(sink, dir, format!("cannot read directory: {e}"));
            return;
        }
    };
    let mut paths = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => paths.push(e.path()),
            Err(e) => unreadable(sink, dir, format!("cannot list directory: {e}")),
        }
    }
    paths.sort();
    stack.extend(paths.into_iter().rev());
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
