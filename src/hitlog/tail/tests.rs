//! The tailer on real files, written the way nginx writes them (O_APPEND descriptor
//! opened once), and the line splitter as a table.

use super::*;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

/// nginx's view of the log: opened once with O_APPEND, kept across rotations.
fn nginx_log(path: &Path) -> File {
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap()
}

fn read(tail: &mut LogTail) -> (Vec<String>, ReadSummary) {
    let mut lines = Vec::new();
    let summary = tail
        .read_new(&mut |l: &[u8]| lines.push(String::from_utf8_lossy(l).into_owned()))
        .unwrap();
    (lines, summary)
}

#[test]
fn splitter_table() {
    let long = "x".repeat(MAX_LINE_BYTES + 1);
    let at_limit = "y".repeat(MAX_LINE_BYTES);
    let long_then_ok = format!("{long}\nok\n");
    let cases: Vec<(&str, Vec<&str>, Vec<&str>, u64)> = vec![
        ("one line", vec!["200 /a\n"], vec!["200 /a"], 0),
        ("two in one chunk", vec!["1\n2\n"], vec!["1", "2"], 0),
        (
            "split across chunks",
            vec!["20", "0 /a", "\n"],
            vec!["200 /a"],
            0,
        ),
        ("unfinished line waits", vec!["1\n2"], vec!["1"], 0),
        ("empty lines are lines", vec!["\n\n"], vec!["", ""], 0),
        ("at the limit", vec![&at_limit, "\n"], vec![&at_limit], 0),
        (
            "overlong in one chunk",
            vec![&long, "\nok\n"],
            vec!["ok"],
            1,
        ),
        (
            "overlong across chunks, skipped to its end",
            vec![&long[..10], &long[10..], "more", "\nok\n"],
            vec!["ok"],
            1,
        ),
        ("overlong whole line", vec![&long_then_ok], vec!["ok"], 1),
    ];
    for (name, chunks, expected, expected_overlong) in cases {
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        let mut overlong = 0;
        for chunk in chunks {
            overlong += splitter.feed(chunk.as_bytes(), &mut |l: &[u8]| {
                lines.push(String::from_utf8(l.to_vec()).unwrap())
            });
        }
        assert_eq!(lines, expected, "{name}");
        assert_eq!(overlong, expected_overlong, "{name}");
        assert!(splitter.partial.len() <= MAX_LINE_BYTES, "{name}");
    }
}

#[test]
fn creates_a_missing_log_and_follows_appends_from_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/hits.log");
    let mut tail = LogTail::open_at_end(&path, 1 << 20).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & !0o022, 0o644, "mode {mode:o}");
    assert_eq!(read(&mut tail).0, Vec::<String>::new());

    let mut nginx = nginx_log(&path);
    nginx
        .write_all(b"200 /i/a.mp4/x.ts\n304 /i/b.mp4/y.ts\n")
        .unwrap();
    assert_eq!(
        read(&mut tail).0,
        ["200 /i/a.mp4/x.ts", "304 /i/b.mp4/y.ts"]
    );
    assert_eq!(read(&mut tail).0, Vec::<String>::new(), "read twice");
    nginx.write_all(b"206 /i/c.mp4/z.ts\n").unwrap();
    assert_eq!(read(&mut tail).0, ["206 /i/c.mp4/z.ts"]);

    // Lines already in the file when a worker starts belong to an earlier run.
    let mut restarted = LogTail::open_at_end(&path, 1 << 20).unwrap();
    assert_eq!(read(&mut restarted).0, Vec::<String>::new());
}

#[test]
fn a_partial_last_line_is_kept_for_the_next_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hits.log");
    let mut tail = LogTail::open_at_end(&path, 1 << 20).unwrap();
    let mut nginx = nginx_log(&path);
    nginx.write_all(b"200 /i/a.mp4/x.ts\n200 /i/b.mp").unwrap();
    assert_eq!(read(&mut tail).0, ["200 /i/a.mp4/x.ts"]);
    nginx.write_all(b"4/y.ts\n").unwrap();
    assert_eq!(read(&mut tail).0, ["200 /i/b.mp4/y.ts"]);
}

#[test]
fn rotation_by_rename_reads_the_old_files_rest_then_the_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hits.log");
    let mut tail = LogTail::open_at_end(&path, 1 << 20).unwrap();
    let mut nginx = nginx_log(&path);
    nginx.write_all(b"200 /before\n").unwrap();
    assert_eq!(read(&mut tail).0, ["200 /before"]);

    // logrotate renames; nginx writes on into the renamed file until it reopens.
    std::fs::rename(&path, dir.path().join("hits.log.1")).unwrap();
    nginx.write_all(b"200 /old-file\n").unwrap();
    let (lines, summary) = read(&mut tail);
    assert_eq!(lines, ["200 /old-file"]);
    assert!(
        !summary.restarted,
        "the path is gone: nothing new to follow"
    );

    nginx.write_all(b"200 /old-file-2\n").unwrap();
    let mut reopened = nginx_log(&path);
    reopened.write_all(b"200 /new-file\n").unwrap();
    let (lines, summary) = read(&mut tail);
    assert_eq!(lines, ["200 /old-file-2", "200 /new-file"]);
    assert!(summary.restarted);
    reopened.write_all(b"200 /new-file-2\n").unwrap();
    assert_eq!(read(&mut tail).0, ["200 /new-file-2"]);
}

#[test]
fn a_log_truncated_by_someone_else_is_read_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hits.log");
    let mut tail = LogTail::open_at_end(&path, 1 << 20).unwrap();
    let mut nginx = nginx_log(&path);
    nginx
        .write_all(b"200 /a-rather-long-first-line\n200 /second\n")
        .unwrap();
    assert_eq!(read(&mut tail).0.len(), 2);
    // copytruncate: same inode, length 0, then nginx's appends start at 0.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    nginx.write_all(b"200 /after\n").unwrap();
    let (lines, summary) = read(&mut tail);
    assert_eq!(lines, ["200 /after"]);
    assert!(summary.restarted);
}

#[test]
fn a_large_log_is_truncated_after_a_read_and_nginx_appends_at_its_new_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hits.log");
    let mut tail = LogTail::open_at_end(&path, 100).unwrap();
    let mut nginx = nginx_log(&path);
    let line = "200 /i/a.mp4/segment1_0_av.ts\n"; // 30 bytes
    nginx.write_all(line.repeat(3).as_bytes()).unwrap();
    let (lines, summary) = read(&mut tail);
    assert_eq!(
        (lines.len(), summary.truncated),
        (3, false),
        "90 bytes <= 100"
    );
    nginx.write_all(line.repeat(2).as_bytes()).unwrap();
    let (lines, summary) = read(&mut tail);
    assert_eq!(
        (lines.len(), summary.truncated),
        (2, true),
        "150 bytes > 100"
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);

    nginx.write_all(b"200 /after-truncation\n").unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        22,
        "O_APPEND wrote at the new end, no hole"
    );
    let (lines, summary) = read(&mut tail);
    assert_eq!(lines, ["200 /after-truncation"]);
    assert!(!summary.restarted && !summary.truncated);
}

#[test]
fn a_huge_line_is_skipped_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hits.log");
    let mut tail = LogTail::open_at_end(&path, 1 << 30).unwrap();
    let mut nginx = nginx_log(&path);
    nginx.write_all(b"200 /").unwrap();
    nginx.write_all(&vec![b'a'; 3 * MAX_LINE_BYTES]).unwrap();
    let (lines, summary) = read(&mut tail);
    assert_eq!((lines.len(), summary.overlong), (0, 1));
    assert!(tail.lines.partial.len() <= MAX_LINE_BYTES);
    nginx.write_all(b"aaaa\n200 /ok\n").unwrap();
    let (lines, summary) = read(&mut tail);
    assert_eq!(lines, ["200 /ok"]);
    assert_eq!(summary.overlong, 0, "counted once");
}

#[test]
fn a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(LogTail::open_at_end(dir.path(), 1 << 20).is_err());
}
