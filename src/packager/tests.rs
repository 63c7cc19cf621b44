//! The packager with the real tools of this workspace (`cargo build -p bento4`
//! puts them beside the test binary's parent dir) on the test media; no nginx.

use super::*;
use crate::tool::RunLimits;
use crate::url;

/// Test media: `CASTERPAK_TEST_MEDIA` or `<repo>/tests/media`; missing fails.
fn media_file(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("CASTERPAK_TEST_MEDIA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/media"));
    let path = dir.join(name);
    assert!(path.is_file(), "test media {} is missing", path.display());
    path
}

struct Fixture {
    _dir: tempfile::TempDir,
    media: std::path::PathBuf,
    packager: Arc<Packager>,
    metrics: Arc<Metrics>,
}

fn fixture(mode: Mode, files: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    for (name, as_name) in files {
        std::fs::copy(media_file(name), media.join(as_name)).unwrap();
    }
    let find = |name| {
        crate::tool::discover(Path::new(""), name)
            .unwrap_or_else(|e| panic!("{e}: build the workspace (cargo build -p bento4)"))
    };
    let metrics = Arc::new(Metrics::new());
    let tools = Tools::with(
        find("mp4info"),
        find("mp42hls"),
        mode,
        2,
        64,
        RunLimits {
            timeout: Duration::from_secs(60),
            memory_bytes: 0,
        },
        metrics.clone(),
    );
    let config = Arc::new(Config {
        media_root: media.clone(),
        cache_root: dir.path().join("cache"),
        ..Config::default()
    });
    let cache = Cache::new(config.cache_root.clone()).unwrap();
    let packager = Arc::new(Packager::new(
        config,
        MediaRoot::new(&media).unwrap(),
        cache,
        Arc::new(tools),
        None,
        metrics.clone(),
    ));
    Fixture {
        _dir: dir,
        media,
        packager,
        metrics,
    }
}

impl Fixture {
    async fn get(&self, uri: &str) -> Result<Answer, Failure> {
        let request = url::parse(uri.as_bytes(), "/i", 4096).unwrap();
        self.packager.handle(&request).await
    }

    fn read(&self, key: &str) -> Vec<u8> {
        let path = self.packager.cache().path_of(key);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn runs(&self, kind: &str) -> u64 {
        self.metrics.counter(
            "casterpak_tool_runs_total",
            &[("tool", "mp42hls"), ("kind", kind)],
        )
    }
}

fn redirect(key: &str) -> Result<Answer, Failure> {
    Ok(Answer::Redirect(key.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_and_jit_modes_serve_identical_playlists_and_segments() {
    let files = [("clip_low.mp4", "c.mp4")];
    let jit = fixture(Mode::Jit, &files);
    let whole = fixture(Mode::Whole, &files);
    for f in [&jit, &whole] {
        assert_eq!(
            f.get("/i/c.mp4/index_0_av.m3u8").await,
            redirect("i/c.mp4/index_0_av.m3u8")
        );
    }
    let playlist = jit.read("i/c.mp4/index_0_av.m3u8");
    assert_eq!(playlist, whole.read("i/c.mp4/index_0_av.m3u8"));
    let text = String::from_utf8(playlist).unwrap();
    let count = text.lines().filter(|l| l.ends_with("_0_av.ts")).count();
    assert!(count >= 2, "{text}");
    for k in 1..=count {
        let key = format!("i/c.mp4/segment{k}_0_av.ts");
        for f in [&jit, &whole] {
            assert_eq!(f.get(&format!("/{key}")).await, redirect(&key));
        }
        assert!(
            jit.read(&key) == whole.read(&key),
            "segment {k} differs between modes"
        );
    }
    assert_eq!(jit.runs("segment"), count as u64);
    assert_eq!(jit.runs("whole"), 0);
    assert_eq!(whole.runs("whole"), 1);
    let past = format!("/i/c.mp4/segment{}_0_av.ts", count + 1);
    for f in [&jit, &whole] {
        assert_eq!(
            f.get(&past).await,
            Err(Failure::SegmentOutOfRange(count as u64 + 1))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csmil_segment_is_a_relative_link_that_heals_after_eviction() {
    let f = fixture(
        Mode::Jit,
        &[
            ("clip_low.mp4", "p_lo.mp4"),
            ("clip_medium.mp4", "p_me.mp4"),
        ],
    );
    let link = "i/p_,lo,me,.mp4.csmil/segment2_1_av.ts";
    assert_eq!(f.get(&format!("/{link}")).await, redirect(link));
    let path = f.packager.cache().path_of(link);
    assert_eq!(
        std::fs::read_link(&path).unwrap(),
        Path::new("../p_me.mp4/segment2_0_av.ts")
    );
    assert_eq!(f.read(link), f.read("i/p_me.mp4/segment2_0_av.ts"));
    assert_eq!(
        f.packager
            .cache()
            .evict_if_idle("i/p_me.mp4")
            .unwrap()
            .map(|b| b > 0),
        Some(true)
    );
    assert!(!path.exists(), "dangling after eviction");
    assert_eq!(f.get(&format!("/{link}")).await, redirect(link));
    assert_eq!(f.read(link), f.read("i/p_me.mp4/segment2_0_av.ts"));
    assert_eq!(f.runs("segment"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_missing_a_rendition_is_served_but_not_cached() {
    let f = fixture(Mode::Jit, &[("clip_low.mp4", "p_lo.mp4")]);
    let master = "i/p_,lo,hi,.mp4.csmil/master.m3u8";
    let Ok(Answer::Playlist(text)) = f.get(&format!("/{master}")).await else {
        panic!("expected an uncached master");
    };
    assert!(text.contains("../p_lo.mp4/index_0_av.m3u8"), "{text}");
    assert!(!text.contains("p_hi"), "{text}");
    assert!(!f.packager.cache().path_of(master).exists());
    std::fs::copy(media_file("clip_highdef.mp4"), f.media.join("p_hi.mp4")).unwrap();
    assert_eq!(f.get(&format!("/{master}")).await, redirect(master));
    let text = String::from_utf8(f.read(master)).unwrap();
    let lo = text.find("p_lo.mp4").unwrap();
    let hi = text.find("p_hi.mp4").unwrap();
    assert!(lo < hi, "sorted by bandwidth:\n{text}");
    assert_eq!(
        f.get("/i/p_,x,y,.mp4.csmil/master.m3u8").await,
        Err(Failure::NoRenditions)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_source_evicts_and_refills() {
    let f = fixture(Mode::Jit, &[("clip_low.mp4", "v.mp4")]);
    assert_eq!(
        f.get("/i/v.mp4/segment1_0_av.ts").await,
        redirect("i/v.mp4/segment1_0_av.ts")
    );
    let old = f.read("i/v.mp4/segment1_0_av.ts");
    std::fs::copy(media_file("clip_medium.mp4"), f.media.join("v.mp4")).unwrap();
    assert_eq!(
        f.get("/i/v.mp4/segment2_0_av.ts").await,
        redirect("i/v.mp4/segment2_0_av.ts")
    );
    assert!(
        !f.packager
            .cache()
            .path_of("i/v.mp4/segment1_0_av.ts")
            .exists(),
        "segment of the old source evicted"
    );
    assert_eq!(
        f.get("/i/v.mp4/segment1_0_av.ts").await,
        redirect("i/v.mp4/segment1_0_av.ts")
    );
    assert_ne!(old, f.read("i/v.mp4/segment1_0_av.ts"));
    assert_eq!(f.runs("plan"), 2, "one plan per source version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_source_is_remembered_and_nothing_is_cached() {
    let f = fixture(
        Mode::Jit,
        &[("truncated.mp4", "t.mp4"), ("garbage.mp4", "g.mp4")],
    );
    for _ in 0..3 {
        let r = f.get("/i/t.mp4/index_0_av.m3u8").await;
        assert_eq!(r.map_err(|e| e.status()), Err(422));
    }
    assert_eq!(f.runs("plan"), 1, "failure remembered");
    let r = f.get("/i/g.mp4/segment1_0_av.ts").await;
    assert_eq!(r.map_err(|e| e.status()), Err(422));
    assert!(!f.packager.cache().path_of("i/t.mp4").exists());
    assert!(!f.packager.cache().path_of("i/g.mp4").exists());
    assert_eq!(
        f.get("/i/none.mp4/master.m3u8")
            .await
            .map_err(|e| e.status()),
        Err(404)
    );
}

/// One slow disk operation must not stall the other requests. The `.source` marker
/// of one rendition is a FIFO: opening it blocks until a writer comes, as a read
/// from a hung disk would. On a single-threaded runtime a miss on that rendition
/// is started, and a miss on another title must be answered while the first is
/// still stuck. Were the marker read on the runtime's thread, that one thread would
/// block, and the other miss would only run once the FIFO's writer came, which is
/// when this test gives up waiting (60 s) and fails.
#[tokio::test(flavor = "current_thread")]
async fn a_stuck_disk_read_does_not_stall_other_misses() {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    let f = fixture(
        Mode::Jit,
        &[("clip_low.mp4", "stuck.mp4"), ("clip_low.mp4", "free.mp4")],
    );
    let dir = f.packager.cache().path_of("i/stuck.mp4");
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join(entry::SOURCE_MARKER);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let released = Arc::new(AtomicBool::new(false));
    let (release, give_up) = std::sync::mpsc::channel::<()>();
    let writer = {
        let released = released.clone();
        std::thread::spawn(move || {
            let _ = give_up.recv_timeout(Duration::from_secs(60));
            released.store(true, Ordering::SeqCst);
            // Not a marker: the stuck miss then finds the dir stale and refills it.
            let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            w.write_all(b"not a marker\n").unwrap();
        })
    };
    let packager = f.packager.clone();
    let stuck = tokio::spawn(async move {
        let request = url::parse(b"/i/stuck.mp4/segment1_0_av.ts", "/i", 4096).unwrap();
        packager.handle(&request).await
    });
    // Let the stuck miss run up to its marker read.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        f.get("/i/free.mp4/segment1_0_av.ts").await,
        redirect("i/free.mp4/segment1_0_av.ts")
    );
    assert!(
        !released.load(Ordering::SeqCst),
        "the other miss waited for the stuck disk read"
    );
    assert!(!stuck.is_finished(), "the FIFO did not hold the first miss");
    release.send(()).unwrap();
    assert_eq!(
        stuck.await.unwrap(),
        redirect("i/stuck.mp4/segment1_0_av.ts")
    );
    writer.join().unwrap();
}
