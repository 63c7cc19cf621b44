//! `mp42hls --serve`: a long-lived process that runs jobs (plan, segment, stats)
//! from stdin and answers each with one line on stdout (bento4/README.md, "Serve
//! mode"). Parsed indexes stay in a bounded LRU keyed by the source's identity
//! from `fstat`, so a replaced file is parsed again; each job's plan and segment
//! come from the code one-shot runs use (`job`), so the bytes are the same.

use crate::job::{self, output_error, Failure, Muxer};
use crate::serve_input::{JobInput, Received};
use bento4::cli::mp42hls::{Encryption, IvMode};
use bento4::cli::serve::{self as protocol, BadJob, Job, Op, ServeOptions, MAX_JOB_BYTES};
use bento4::cmaf::protect::Cbcs;
use bento4::cmaf::CmafTrack;
use bento4::error::Mp4Error;
use bento4::lru::Lru;
use bento4::media::Movie;
use bento4::mux::SegmentWriter;
use bento4::plan::{Plan, PlanOptions, PlanParts};
use bento4::source::Mp4Source;
use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Plans kept per index (one per segment duration, first number and track choice
/// asked for): casterpak asks for one per stream it serves (muxed, video, each
/// audio track), a few more cost little, an unbounded list could grow.
const PLANS_PER_INDEX: usize = 8;

/// Read and mux buffers kept between jobs, at most (each): a 6 s segment of 1080p
/// is about 1.3 MB; a rare huge one is not kept for the process's life.
const KEPT_BUFFER_BYTES: usize = 16 << 20;

/// The code a job that panicked answers: what the one-shot tool exits with then.
const PANIC_CODE: u8 = 101;

pub fn serve(options: ServeOptions) -> Result<(), Failure> {
    let mut input = JobInput::stdin();
    let mut server = Server {
        cache: Lru::new(options.index_cache_entries, options.index_cache_bytes),
        muxer: Muxer::default(),
    };
    let stdout = std::io::stdout();
    while let Some(received) = input
        .next()
        .map_err(|e| Failure(4, format!("reading jobs from standard input: {e}")))?
    {
        let answer = server.answer(received);
        server.muxer.shrink_to(KEPT_BUFFER_BYTES);
        let mut out = stdout.lock();
        out.write_all(answer.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Failure(4, format!("writing to standard output: {e}")))?;
    }
    Ok(())
}

/// A source's identity: the same inode with the same size and modification time
/// is the same file; anything else (replaced by rename, rewritten in place) is not.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

/// What is kept of one source: its movie, and the plans built on it.
struct Index {
    movie: Movie,
    /// Least recently used first.
    plans: Vec<KeptPlan>,
    /// The captions job's answer once made (it reads the first video samples).
    captions: Option<String>,
}

/// A plan without its borrow of the movie, and its `--plan` document once a plan
/// job rendered it (rendering is most of a warm plan job's work).
struct KeptPlan {
    parts: PlanParts,
    document: Option<String>,
}

impl Index {
    fn heap_bytes(&self) -> usize {
        let plans: usize = self
            .plans
            .iter()
            .map(|p| p.parts.heap_bytes() + p.document.as_ref().map_or(0, String::capacity))
            .sum();
        let captions = self.captions.as_ref().map_or(0, String::capacity);
        std::mem::size_of::<Index>() + self.movie.heap_bytes() + plans + captions
    }

    /// The captions job's answer object, made once per index.
    fn captions(&mut self, file: &File) -> Result<String, Failure> {
        if let Some(text) = &self.captions {
            return Ok(text.clone());
        }
        let text = job::captions_document(&self.movie, file)?.to_string();
        self.captions = Some(text.clone());
        Ok(text)
    }

    /// Runs `f` on the plan for `options` (rebuilt from kept parts, or built) and
    /// the slot for its rendered document.
    fn with_plan<T>(
        &mut self,
        file: &File,
        options: &PlanOptions,
        f: impl FnOnce(&Plan, &mut Option<String>) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let kept = self
            .plans
            .iter()
            .position(|p| p.parts.options == *options)
            .map(|i| self.plans.remove(i));
        let (plan, mut document) = match kept {
            Some(kept) => (Plan::from_parts(&self.movie, kept.parts)?, kept.document),
            None => (job::build_plan(&self.movie, file, options)?, None),
        };
        let result = f(&plan, &mut document);
        self.plans.push(KeptPlan {
            parts: plan.into_parts(),
            document,
        });
        if self.plans.len() > PLANS_PER_INDEX {
            self.plans.remove(0);
        }
        result
    }
}

/// A successful job's fields: built for this job, or a kept JSON object's text.
enum Answer {
    Fields(Map<String, Value>),
    Object(String),
}

enum Source {
    Descriptor(OwnedFd),
    Path(PathBuf),
}

struct Server {
    cache: Lru<Identity, Index>,
    /// Buffers reused from job to job; a job borrows it, never the cache.
    muxer: Muxer,
}

impl Server {
    /// Runs one job and returns its answer line. The job's descriptors are closed
    /// when it returns, whatever happened.
    fn answer(&mut self, received: Received) -> String {
        let Received {
            bytes,
            mut fds,
            too_long,
        } = received;
        if too_long {
            let reason = format!("job longer than {MAX_JOB_BYTES} bytes");
            return protocol::failure(None, 1, &reason);
        }
        let job = match protocol::parse_job(&bytes) {
            Ok(job) => job,
            Err(BadJob { id, reason }) => return protocol::failure(id, 1, &reason),
        };
        if fds.len() > 1 {
            let reason = format!("one descriptor per job, got {}", fds.len());
            return protocol::failure(Some(job.id), 1, &reason);
        }
        let source = match (&job.op, fds.pop(), job.input.clone()) {
            (Op::Stats, None, _) => None,
            (Op::Stats, Some(_), _) => {
                return protocol::failure(Some(job.id), 1, "stats takes no descriptor")
            }
            (_, Some(fd), None) => Some(Source::Descriptor(fd)),
            (_, None, Some(path)) => Some(Source::Path(path)),
            (_, None, None) => {
                let reason = "the job has neither a descriptor nor an input";
                return protocol::failure(Some(job.id), 1, reason);
            }
            (_, Some(_), Some(_)) => {
                let reason = "the job has both a descriptor and an input";
                return protocol::failure(Some(job.id), 1, reason);
            }
        };
        // The job owns the index it works on (taken out of the cache, put back
        // after) and the cache is never borrowed across it, so a panic loses that
        // one index and leaves the rest consistent; a half-written output is
        // removed by its guard while unwinding.
        match panic::catch_unwind(AssertUnwindSafe(|| self.run(&job, source))) {
            Ok(Ok(Answer::Fields(fields))) => protocol::success(job.id, fields),
            Ok(Ok(Answer::Object(text))) => protocol::success_with_object(job.id, &text),
            Ok(Err(Failure(code, reason))) => protocol::failure(Some(job.id), code, &reason),
            Err(payload) => {
                self.muxer = Muxer::default();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let reason = format!("internal error: {message}");
                protocol::failure(Some(job.id), PANIC_CODE, &reason)
            }
        }
    }

    fn run(&mut self, job: &Job, source: Option<Source>) -> Result<Answer, Failure> {
        let Some(source) = source else {
            let mut fields = Map::new();
            fields.insert("entries".into(), Value::from(self.cache.len()));
            fields.insert("bytes".into(), Value::from(self.cache.bytes()));
            return Ok(Answer::Fields(fields));
        };
        let (file, label) = open(source)?;
        let metadata = file
            .metadata()
            .map_err(|e| Mp4Error::Io(format!("{label}: {e}")))?;
        let identity = Identity {
            dev: metadata.dev(),
            ino: metadata.ino(),
            size: metadata.size(),
            mtime: metadata.mtime(),
            mtime_nsec: metadata.mtime_nsec(),
        };
        let (file, mut index) = match self.cache.take(&identity) {
            Some(index) => (file, index),
            None => {
                let (file, movie) = Mp4Source::from_file(file, &label)?.into_parts();
                let index = Index {
                    movie,
                    plans: Vec::new(),
                    captions: None,
                };
                (file, index)
            }
        };
        let muxer = &mut self.muxer;
        let result = match (&job.op, job.cmaf) {
            (Op::Captions, _) => index.captions(&file).map(Answer::Object),
            (Op::WebVtt { track_id }, _) => job::webvtt_document(&index.movie, &file, *track_id)
                .map(|text| {
                    let mut fields = Map::new();
                    fields.insert("webvtt".into(), Value::from(text));
                    Answer::Fields(fields)
                }),
            (Op::Segment { k, output }, Some(kind)) => {
                index.with_plan(&file, &job.plan, |plan, _| {
                    write_cmaf_segment(muxer, &file, plan, *k, (kind, job.cbcs.as_ref()), output)
                        .map(Answer::Fields)
                })
            }
            (Op::Init { output }, Some(kind)) => index.with_plan(&file, &job.plan, |plan, _| {
                let bytes = job::cmaf_init(plan, kind, job.cbcs.as_ref())?;
                write_new(output, &bytes)?;
                let mut fields = Map::new();
                fields.insert("bytes".into(), Value::from(bytes.len()));
                Ok(Answer::Fields(fields))
            }),
            (Op::Plan, Some(_)) => index.with_plan(&file, &job.plan, |plan, _| {
                Ok(Answer::Object(job::cmaf_plan_document(plan).to_string()))
            }),
            (Op::Init { .. }, None) => Err(Failure(1, "init needs cmaf".into())),
            (Op::Segment { k, output }, None) => index.with_plan(&file, &job.plan, |plan, _| {
                write_segment(muxer, &file, plan, *k, output, job.encryption_key)
                    .map(Answer::Fields)
            }),
            // Sizes as encrypted: not the document kept for plain plans.
            (Op::Plan, None) if job.encryption_key.is_some() => {
                index.with_plan(&file, &job.plan, |plan, _| {
                    Ok(Answer::Object(job::plan_document(plan, true).to_string()))
                })
            }
            (Op::Plan, None) => index.with_plan(&file, &job.plan, |plan, document| {
                let text =
                    document.get_or_insert_with(|| job::plan_document(plan, false).to_string());
                Ok(Answer::Object(text.clone()))
            }),
            // (Refused in `answer` before a source is opened.)
            (Op::Stats, _) => Err(Failure(1, "stats takes no source".into())),
        };
        // A plan job with `captions`: the plan's object and the captions' in one.
        let result = match result {
            Ok(Answer::Object(plan)) if job.op == Op::Plan && job.captions => index
                .captions(&file)
                .map(|captions| Answer::Object(merged_objects(&plan, &captions))),
            result => result,
        };
        let bytes = index.heap_bytes();
        self.cache.put(identity, index, bytes);
        result
    }
}

/// The members of two JSON objects' texts (made by this tool: `{…}`, no member in
/// both) as one object's text, without parsing either.
fn merged_objects(first: &str, second: &str) -> String {
    let head = first.trim_end().strip_suffix('}').unwrap_or(first);
    let tail = second.trim_start().strip_prefix('{').unwrap_or(second);
    if head.trim_end().ends_with('{') || tail.trim_start().starts_with('}') {
        format!("{head}{tail}")
    } else {
        format!("{head},{tail}")
    }
}

/// The source as a file, and its name for messages. A descriptor is named by what
/// `/proc/self/fd` shows, so reasons read as the one-shot tool's on that path; it
/// is never opened by that name.
fn open(source: Source) -> Result<(File, String), Failure> {
    match source {
        Source::Descriptor(fd) => {
            let raw = fd.as_raw_fd();
            let label = std::fs::read_link(format!("/proc/self/fd/{raw}"))
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| format!("descriptor {raw}"));
            Ok((File::from(fd), label))
        }
        Source::Path(path) => match File::open(&path) {
            Ok(file) => Ok((file, path.display().to_string())),
            Err(e) => Err(Mp4Error::Io(format!("{}: {e}", path.display())).into()),
        },
    }
}

/// Muxes segment `k` and writes it to `output`, a file this job creates.
fn write_segment(
    muxer: &mut Muxer,
    file: &File,
    plan: &Plan,
    k: u64,
    output: &Path,
    encryption_key: Option<[u8; 16]>,
) -> Result<Map<String, Value>, Failure> {
    let index = *job::segment_indices(plan, k, k)?.start();
    let mut writer = SegmentWriter::new(plan);
    let encryption = encryption_key.map(|key| Encryption {
        key,
        iv_mode: IvMode::Sequence,
        key_uri: String::new(),
    });
    let key = encryption.as_ref().map(|encryption| job::Key {
        encryption,
        random_iv: None,
    });
    let bytes = muxer
        .segment(file, plan, &mut writer, index, key.as_ref())?
        .len();
    let mut created = NewFile::create(output).map_err(|e| output_error(output, e))?;
    created
        .file
        .write_all(muxer.output())
        .map_err(|e| output_error(output, e))?;
    created.keep();
    let mut fields = Map::new();
    fields.insert("bytes".into(), Value::from(bytes));
    // How many preads the segment's samples took (README: coalesced reads).
    fields.insert("reads".into(), Value::from(muxer.reads()));
    Ok(fields)
}

/// Creates `output` (a new file) holding `bytes`; removed again on failure.
fn write_new(output: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut created = NewFile::create(output).map_err(|e| output_error(output, e))?;
    created
        .file
        .write_all(bytes)
        .map_err(|e| output_error(output, e))?;
    created.keep();
    Ok(())
}

/// Muxes CMAF segment `k` of the `kind` track and writes it to `output`.
fn write_cmaf_segment(
    muxer: &mut Muxer,
    file: &File,
    plan: &Plan,
    k: u64,
    track: (CmafTrack, Option<&Cbcs>),
    output: &Path,
) -> Result<Map<String, Value>, Failure> {
    let index = *job::segment_indices(plan, k, k)?.start();
    let bytes = muxer.cmaf_segment(file, plan, index, track)?.len();
    write_new(output, muxer.output())?;
    let mut fields = Map::new();
    fields.insert("bytes".into(), Value::from(bytes));
    fields.insert("reads".into(), Value::from(muxer.reads()));
    Ok(fields)
}

/// A file this job created: removed when dropped (an error, a panic) unless kept.
struct NewFile<'p> {
    path: &'p Path,
    file: File,
    kept: bool,
}

impl<'p> NewFile<'p> {
    fn create(path: &'p Path) -> std::io::Result<NewFile<'p>> {
        // O_CREAT|O_EXCL: never truncate or follow into a file someone else has;
        // std opens with O_CLOEXEC.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)?;
        Ok(NewFile {
            path,
            file,
            kept: false,
        })
    }

    fn keep(&mut self) {
        self.kept = true;
    }
}

impl Drop for NewFile<'_> {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_removed_on_error_and_on_panic_unless_kept() {
        let dir = std::env::temp_dir();
        let pid = std::process::id();
        let (failed, panicked, kept) = (
            dir.join(format!("mp42hls-newfile-failed-{pid}")),
            dir.join(format!("mp42hls-newfile-panicked-{pid}")),
            dir.join(format!("mp42hls-newfile-kept-{pid}")),
        );
        let write = |path: &Path, keep: bool| -> Result<(), Failure> {
            let mut created = NewFile::create(path).map_err(|e| output_error(path, e))?;
            created
                .file
                .write_all(b"half")
                .map_err(|e| output_error(path, e))?;
            if keep {
                created.keep();
                return Ok(());
            }
            Err(Failure(2, "corrupt input: later".into()))
        };
        assert!(write(&failed, false).is_err());
        assert!(!failed.exists());
        let outcome = panic::catch_unwind(|| {
            let _created = NewFile::create(&panicked).unwrap();
            assert!(panicked.exists());
            panic!("mid-write");
        });
        assert!(outcome.is_err());
        assert!(!panicked.exists(), "removed while unwinding");
        assert!(write(&kept, true).is_ok());
        assert_eq!(std::fs::read(&kept).unwrap(), b"half");
        // Never over an existing file.
        assert_eq!(write(&kept, true).err().map(|f| f.0), Some(4));
        assert_eq!(std::fs::read(&kept).unwrap(), b"half");
        let _ = std::fs::remove_file(kept);
    }
}
