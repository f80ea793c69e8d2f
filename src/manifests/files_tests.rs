use std::path::{Path, PathBuf};
use std::process::Command;

use super::super::tests::{Scratch, load_paths, names, no_errors, pod_yaml};
use super::*;
use crate::manifests::Input;

fn load_with(paths: &[PathBuf], options: ReadOptions) -> Input {
    let mut input = Input::default();
    read_paths(paths, &mut std::io::empty(), &mut input, options);
    input
}

fn only_error(input: &Input) -> &InputError {
    assert_eq!(input.errors.len(), 1, "{:#?}", input.errors);
    &input.errors[0]
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
}

/// A file `depth` directories below `root`, made relative to open directories so no path
/// given to the system is longer than its limit.
#[cfg(unix)]
fn bury(root: &Path, depth: usize, content: &str) {
    use std::ffi::CString;
    use std::io::Write;
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let name = CString::new("d").unwrap();
    let root = CString::new(root.as_os_str().as_bytes()).unwrap();
    // SAFETY: plain system calls on descriptors this function opens and closes.
    unsafe {
        let mut dir = libc::open(root.as_ptr(), libc::O_DIRECTORY | libc::O_RDONLY);
        assert!(dir >= 0);
        for _ in 0..depth {
            libc::mkdirat(dir, name.as_ptr(), 0o755);
            let next = libc::openat(dir, name.as_ptr(), libc::O_DIRECTORY | libc::O_RDONLY);
            libc::close(dir);
            assert!(next >= 0);
            dir = next;
        }
        let file = CString::new("pod.yaml").unwrap();
        let fd = libc::openat(dir, file.as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o644);
        libc::close(dir);
        assert!(fd >= 0);
        std::fs::File::from_raw_fd(fd)
            .write_all(content.as_bytes())
            .unwrap();
    }
}

#[cfg(unix)]
#[test]
fn a_character_device_given_by_name_is_refused_without_being_read() {
    let input = load_paths(&[PathBuf::from("/dev/zero")]);
    let e = only_error(&input);
    assert_eq!(e.file, "/dev/zero");
    assert!(
        e.message
            .contains("not a regular file (a character device)"),
        "{e}"
    );
    assert!(e.message.contains("--path -"), "{e}");
    assert_eq!(input.files, 0, "nothing was read");
}

#[cfg(unix)]
#[test]
fn a_link_to_a_device_in_a_walked_directory_is_an_error() {
    let dir = Scratch::new();
    dir.write("a.yaml", pod_yaml("a").as_bytes());
    let link = dir.path().join("zero.yaml");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let input = load_paths(&[dir.path().to_path_buf()]);
    assert_eq!(names(&input), ["a"]);
    let e = only_error(&input);
    assert_eq!(e.file, link.display().to_string());
    assert!(e.message.contains("a character device"), "{e}");
}

#[cfg(unix)]
#[test]
fn a_fifo_in_a_walked_directory_is_an_error_and_never_blocks() {
    let dir = Scratch::new();
    dir.write("b.yaml", pod_yaml("b").as_bytes());
    let fifo = dir.path().join("a.yaml");
    mkfifo(&fifo);
    let input = load_paths(&[dir.path().to_path_buf()]);
    assert_eq!(names(&input), ["b"]);
    let e = only_error(&input);
    assert_eq!(e.file, fifo.display().to_string());
    assert!(e.message.contains("a FIFO"), "{e}");
}

#[cfg(unix)]
#[test]
fn a_fifo_given_by_name_is_refused_with_a_hint_for_standard_input() {
    let dir = Scratch::new();
    let fifo = dir.path().join("pipe.yaml");
    mkfifo(&fifo);
    let e = only_error(&load_paths(std::slice::from_ref(&fifo))).clone();
    assert!(e.message.contains("a FIFO (named pipe)"), "{e}");
    assert!(e.message.contains("--path -"), "{e}");
}

#[cfg(unix)]
#[test]
fn a_file_deeper_than_the_path_limit_is_an_error_not_silence() {
    let dir = Scratch::new();
    dir.write("a.yaml", pod_yaml("a").as_bytes());
    bury(dir.path(), 3000, &pod_yaml("deep"));
    let input = load_paths(&[dir.path().to_path_buf()]);
    assert_eq!(names(&input), ["a"]);
    let e = only_error(&input);
    assert!(e.message.contains("cannot read"), "{e}");
    assert!(e.file.starts_with(&dir.path().display().to_string()), "{e}");
}

#[cfg(unix)]
#[test]
fn skip_unreadable_hands_what_a_walk_cannot_read_to_the_sink_as_skipped() {
    let dir = Scratch::new();
    dir.write("a.yaml", pod_yaml("a").as_bytes());
    mkfifo(&dir.path().join("fifo.yaml"));
    bury(dir.path(), 3000, &pod_yaml("deep"));
    let options = ReadOptions {
        skip_unreadable: true,
    };
    let input = load_with(&[dir.path().to_path_buf()], options);
    no_errors(&input);
    assert_eq!(names(&input), ["a"]);
    assert_eq!(input.skipped.len(), 2, "{:#?}", input.skipped);
}

#[test]
fn skip_unreadable_never_skips_a_path_given_by_name() {
    let dir = Scratch::new();
    let missing = dir.path().join("nope.yaml");
    let options = ReadOptions {
        skip_unreadable: true,
    };
    let input = load_with(std::slice::from_ref(&missing), options);
    assert!(only_error(&input).message.contains("cannot read"));
    assert!(input.skipped.is_empty());
}

#[cfg(unix)]
#[test]
fn linked_files_and_directories_are_read_and_a_link_loop_is_walked_once() {
    let dir = Scratch::new();
    let real = Scratch::new();
    real.write("sub/b.yaml", pod_yaml("b").as_bytes());
    real.write("c.yaml", pod_yaml("c").as_bytes());
    dir.write("a.yaml", pod_yaml("a").as_bytes());
    std::os::unix::fs::symlink(real.path().join("sub"), dir.path().join("linked")).unwrap();
    std::os::unix::fs::symlink(real.path().join("c.yaml"), dir.path().join("m.yaml")).unwrap();
    std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).unwrap();
    let input = load_paths(&[dir.path().to_path_buf()]);
    no_errors(&input);
    assert_eq!(names(&input), ["a", "b", "c"]);
}

#[test]
fn a_walk_deeper_than_any_stack_would_allow_for_recursion_still_reads_its_files() {
    let dir = Scratch::new();
    // 1,500 levels stay below the path limit; a recursive walk with large frames would
    // need a deep stack, the iterative one needs none.
    let rel: String = std::iter::repeat_n("d/", 1500).collect();
    dir.write(&format!("{rel}pod.yaml"), pod_yaml("deep").as_bytes());
    let input = load_paths(&[dir.path().to_path_buf()]);
    no_errors(&input);
    assert_eq!(names(&input), ["deep"]);
}
