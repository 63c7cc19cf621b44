use super::*;
use std::os::unix::fs::symlink;

/// The bytes behind an opened source, read through its descriptor the way a tool
/// does (`/proc/self/fd/N` is what `/dev/fd/N` leads to).
fn read_through(source: &Source) -> Vec<u8> {
    std::fs::read(format!("/proc/self/fd/{}", source.file.as_raw_fd())).unwrap()
}

/// A media root with a file, links that stay inside and links that lead out.
fn layout() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(media.join("a")).unwrap();
    std::fs::write(media.join("a/b.mp4"), b"12345").unwrap();
    std::fs::write(dir.path().join("secret.mp4"), b"x").unwrap();
    symlink(dir.path().join("secret.mp4"), media.join("out.mp4")).unwrap();
    symlink("b.mp4", media.join("a/in.mp4")).unwrap();
    symlink(media.join("a/b.mp4"), media.join("absolute_in.mp4")).unwrap();
    symlink("a", media.join("dirlink")).unwrap();
    symlink("loop.mp4", media.join("loop.mp4")).unwrap();
    symlink(dir.path(), media.join("up")).unwrap();
    nix::unistd::mkfifo(&media.join("fifo.mp4"), Mode::from_bits_truncate(0o644)).unwrap();
    (dir, media)
}

fn both_ways(media: &Path) -> [MediaRoot; 2] {
    [
        MediaRoot::new(media).unwrap(),
        MediaRoot::per_component(media),
    ]
}

#[test]
fn resolves_inside_and_refuses_outside() {
    let (_dir, media) = layout();
    let [native, fallback] = both_ways(&media);
    assert_eq!(native.beneath, Beneath::Openat2, "this kernel has openat2");
    for root in [native, fallback] {
        let src = root.resolve("a/b.mp4").unwrap();
        assert_eq!(src.id.size, 5);
        assert_eq!(src.id.path, "a/b.mp4");
        assert!(src.id.mtime_ns > 0);
        assert_eq!(read_through(&src), b"12345");
        // Symlinks that stay inside the root, relative or absolute, are followed.
        for rel in ["a/in.mp4", "absolute_in.mp4", "dirlink/b.mp4"] {
            let inside_link = root.resolve(rel).unwrap();
            assert_eq!(inside_link.id.size, 5, "{rel}");
            assert_eq!(read_through(&inside_link), b"12345", "{rel}");
        }
        for rel in [
            "out.mp4",
            "up/secret.mp4",
            "loop.mp4",
            "fifo.mp4",
            "a",
            "missing.mp4",
            "a/b.mp4/x.mp4",
            "",
            "/etc/passwd",
        ] {
            assert!(
                matches!(root.resolve(rel), Err(SourceError::NotFound(_))),
                "{:?} {rel:?} should be not found, got {:?}",
                root.beneath,
                root.resolve(rel)
            );
        }
    }
}

/// What `resolve` opens is a canonical path; a link found there at open time was
/// swapped in after the name was resolved, and must not be followed, not even one
/// that stays inside the root.
#[test]
fn the_open_follows_no_link_at_all() {
    let (_dir, media) = layout();
    for root in both_ways(&media) {
        for inner in ["a/in.mp4", "out.mp4", "up/secret.mp4", "dirlink/b.mp4"] {
            let result = root.open_beneath(Path::new(inner));
            assert!(
                matches!(result, Err(e) if is_absence(Some(e))),
                "{:?} {inner}: {result:?}",
                root.beneath
            );
        }
        assert!(root.open_beneath(Path::new("a/b.mp4")).is_ok());
    }
}

#[test]
fn the_descriptor_keeps_the_file_that_was_checked() {
    let (dir, media) = layout();
    for root in both_ways(&media) {
        let src = root.resolve("a/b.mp4").unwrap();
        // Swap the name for a link out of the root: the opened source is unchanged.
        let swap = media.join("a/swap.tmp");
        symlink(dir.path().join("secret.mp4"), &swap).unwrap();
        let original = media.join("a/original.tmp");
        std::fs::hard_link(media.join("a/b.mp4"), &original).unwrap();
        std::fs::rename(&swap, media.join("a/b.mp4")).unwrap();
        assert_eq!(read_through(&src), b"12345");
        assert!(matches!(
            root.resolve("a/b.mp4"),
            Err(SourceError::NotFound(_))
        ));
        std::fs::rename(&original, media.join("a/b.mp4")).unwrap();
        assert_eq!(root.resolve("a/b.mp4").unwrap().id, src.id);
    }
}

#[test]
fn the_descriptor_is_close_on_exec_and_closes_with_the_last_clone() {
    let (_dir, media) = layout();
    let src = MediaRoot::new(&media).unwrap().resolve("a/b.mp4").unwrap();
    let raw = src.file.as_raw_fd();
    let flags = nix::fcntl::fcntl(raw, nix::fcntl::FcntlArg::F_GETFD).unwrap();
    assert_ne!(flags & nix::libc::FD_CLOEXEC, 0);
    let clone = src.clone();
    drop(src);
    assert_eq!(read_through(&clone), b"12345");
}

#[test]
fn identity_changes_with_content() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.mp4"), b"1").unwrap();
    let root = MediaRoot::new(dir.path()).unwrap();
    let before = root.resolve("x.mp4").unwrap().id;
    std::fs::write(dir.path().join("x.mp4"), b"22").unwrap();
    let after = root.resolve("x.mp4").unwrap().id;
    assert_ne!(before, after);
}
