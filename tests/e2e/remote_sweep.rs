//! The input cache in `--sweep` (issue 10, test 8): copies go by TTL and by byte
//! budget, least recently used first, but never one a reader holds; a swept copy
//! is fetched again on the next miss.

use crate::common::archive::Archive;
use crate::common::*;
use nix::fcntl::{Flock, FlockArg};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The data file of the copy of `name` (its record's first line names it).
fn copy_of(input: &Path, name: &str) -> Option<PathBuf> {
    std::fs::read_dir(input).ok()?.flatten().find_map(|e| {
        let path = e.path();
        let text = std::fs::read(&path).ok()?;
        let head =
            String::from_utf8_lossy(&text[..text.iter().position(|&b| b == b'\n')?]).into_owned();
        (path.extension()? == "blocks" && head.contains(name)).then(|| path.with_extension("data"))
    })
}

fn stack(archive: &Archive, input: &Path, ttl: u64, max_bytes: u64) -> Stack {
    Stack::builder()
        .config(
            "[sources]",
            &format!(
                "prefix = \"arch\"\nkind = \"http\"\nbase_url = \"{}/vod\"",
                archive.base_url()
            ),
        )
        .config(
            "input_cache",
            &format!("root = {:?}", input.display().to_string()),
        )
        .config("input_cache", &format!("ttl_secs = {ttl}"))
        .config("input_cache", &format!("max_bytes = {max_bytes}"))
        .start()
}

fn sweep(stack: &Stack) {
    let out = stack.casterpak(&["--sweep"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_budget_removes_copies_but_not_one_being_read() {
    let archive = Archive::start();
    archive.put(&media("clip_low.mp4"), "vod/low.mp4");
    archive.put(&media("clip_medium.mp4"), "vod/medium.mp4");
    let input = archive.dir.path().join("input");
    let stack = stack(&archive, &input, 3600, 1);
    for name in ["low", "medium"] {
        assert_eq!(
            stack
                .get(&format!("/i/arch/{name}.mp4/segment1_0_av.ts"))
                .status,
            200
        );
    }
    let low = copy_of(&input, "arch/low.mp4").expect("copy of low");
    let medium = copy_of(&input, "arch/medium.mp4").expect("copy of medium");
    // A reader holds low's copy, as each request holds the copy it reads.
    let reader = Flock::lock(std::fs::File::open(&low).unwrap(), FlockArg::LockShared)
        .map_err(|(_, e)| e)
        .unwrap();
    sweep(&stack);
    assert!(!medium.exists(), "over the budget: removed");
    assert!(low.exists(), "being read: kept");
    drop(reader);
    sweep(&stack);
    assert!(!low.exists(), "no longer read: removed");
    // The next miss on the title fetches what it needs again.
    let before = archive.log().len();
    let again = stack.get("/i/arch/low.mp4/segment2_0_av.ts");
    assert_eq!(again.status, 200, "{}", again.text());
    assert_transport_stream(&again.body, "after the sweep");
    assert!(archive.log().len() > before, "fetched again");
    assert!(copy_of(&input, "arch/low.mp4").is_some());
}

#[test]
fn copies_past_the_ttl_are_removed() {
    let archive = Archive::start();
    archive.put(&media("clip_low.mp4"), "vod/low.mp4");
    let input = archive.dir.path().join("input");
    let stack = stack(&archive, &input, 1, 1 << 40);
    assert_eq!(stack.get("/i/arch/low.mp4/segment1_0_av.ts").status, 200);
    let low = copy_of(&input, "arch/low.mp4").expect("copy of low");
    sweep(&stack);
    assert!(low.exists(), "used within the TTL: kept");
    std::thread::sleep(Duration::from_millis(2100));
    sweep(&stack);
    assert!(!low.exists(), "past the TTL: removed");
}
