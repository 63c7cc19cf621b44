//! The media model every part of the crate shares: what the MP4 demuxer produces
//! from the index alone, and what the segmenter and the TS muxer consume.
//!
//! Nothing here holds media bytes: a [`Sample`] says where its bytes are in the
//! file, so a job reads only the ranges it needs.

mod samples;

pub use samples::{SampleTable, Samples, TimingRun};

/// A whole movie as read from `moov` (plus any `moof` fragments).
#[derive(Debug, Clone, PartialEq)]
pub struct Movie {
    pub file: FileInfo,
    /// `mvhd` time scale and duration (in that scale).
    pub time_scale: u32,
    pub duration: u64,
    /// True when the file has `mvex`/`moof` fragments.
    pub fragmented: bool,
    pub tracks: Vec<Track>,
}

/// Facts from `ftyp` and the top-level layout.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileInfo {
    pub major_brand: [u8; 4],
    pub minor_version: u32,
    pub compatible_brands: Vec<[u8; 4]>,
    /// `moov` comes before the first `mdat`.
    pub fast_start: bool,
    /// Total file length in bytes, so a sample range past it is caught before reading.
    pub file_size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    Video,
    Audio,
    /// Anything else (text, hint, metadata); carried for `mp4info`, never muxed.
    Other([u8; 4]),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub id: u32,
    pub kind: TrackKind,
    /// `tkhd` flags (enabled, in movie, …).
    pub flags: u32,
    /// `mdhd` time scale and duration.
    pub timescale: u32,
    pub duration: u64,
    /// `tkhd` duration in the movie time scale.
    pub movie_duration: u64,
    /// ISO-639-2/T code from `mdhd`, e.g. "und".
    pub language: String,
    /// The `hdlr` name (UTF-8, up to its NUL), e.g. "Français"; often a muxer's
    /// default such as "SoundHandler".
    pub name: String,
    /// `tkhd` width and height (16.16 fixed point, already divided).
    pub display_width: f64,
    pub display_height: f64,
    pub codec: Codec,
    /// Presentation offset from the edit list, in the track's time scale: a sample's
    /// presentation time on the movie timeline is
    /// `dts + cts_offset - edit_media_start + edit_empty`. For the common ffmpeg case (one edit starting at the first CTS)
    /// this removes the B-frame delay.
    pub edit: EditShift,
    /// Every sample in decode order.
    pub samples: SampleTable,
}

/// What the edit list does to this track's timeline, reduced to one shift
/// (multiple non-empty edits are rejected as unsupported by the demuxer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EditShift {
    /// Empty edit at the start, in the track's time scale (delays the track).
    pub empty_duration: u64,
    /// `media_time` of the first non-empty edit (skipped media), in the track's scale.
    pub media_start: u64,
}

/// One sample: where its bytes are and when it plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Absolute byte offset in the file.
    pub offset: u64,
    pub size: u32,
    /// Decode time in the track's time scale.
    pub dts: u64,
    /// Composition offset (`ctts`, may be negative in version 1).
    pub cts_offset: i32,
    /// Sync sample (`stss`, or every sample when there is no `stss`; for HEVC
    /// also CRA/BLA pictures reported as sync).
    pub sync: bool,
    /// Decode duration in the track's time scale.
    pub duration: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Codec {
    Avc(AvcConfig),
    Hevc(HevcConfig),
    Aac(AacConfig),
    /// MP3 in MP4 (`mp4a` with object type 0x69/0x6B, or `.mp3`).
    Mp3(AudioBasics),
    Ac3(AudioBasics),
    Eac3(AudioBasics),
    /// Present in the file but not something we can put in TS; the fourcc says what.
    Unsupported([u8; 4]),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AvcConfig {
    /// `avc1` or `avc3`.
    pub fourcc: [u8; 4],
    pub profile: u8,
    pub profile_compat: u8,
    pub level: u8,
    /// Bytes of each NAL unit length prefix (1, 2 or 4).
    pub nalu_length_size: u8,
    pub sps: Vec<Vec<u8>>,
    pub pps: Vec<Vec<u8>>,
    pub width: u16,
    pub height: u16,
    pub depth: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HevcConfig {
    /// `hvc1` or `hev1`.
    pub fourcc: [u8; 4],
    pub general_profile_space: u8,
    pub general_tier_flag: bool,
    pub general_profile_idc: u8,
    pub general_profile_compatibility_flags: u32,
    pub general_constraint_indicator_flags: u64,
    pub general_level_idc: u8,
    pub chroma_format_idc: u8,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    pub nalu_length_size: u8,
    /// Parameter set arrays from `hvcC`, in file order: (NAL type, units).
    pub arrays: Vec<(u8, Vec<Vec<u8>>)>,
    pub width: u16,
    pub height: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AacConfig {
    /// MPEG-4 audio object type from the AudioSpecificConfig (2 = LC, 5 = SBR, 29 = PS…).
    pub object_type: u8,
    /// Raw AudioSpecificConfig bytes (`decoder_info`).
    pub decoder_info: Vec<u8>,
    pub sampling_frequency: u32,
    pub sampling_frequency_index: u8,
    pub channel_configuration: u8,
    pub basics: AudioBasics,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AudioBasics {
    /// From the sample entry.
    pub sample_rate: u32,
    pub channels: u16,
    /// The channels the stream codes, where its configuration says (`dac3`'s
    /// acmod and lfeon); 0 when it does not. Sample entries often say 2 for any.
    pub coded_channels: u16,
    pub sample_size: u16,
    /// From `esds` DecoderConfigDescriptor, 0 when absent.
    pub object_type_indication: u8,
    pub stream_type: u8,
    pub max_bitrate: u32,
    pub average_bitrate: u32,
    pub buffer_size: u32,
    /// AC-3/E-AC-3: the body of the entry's `dac3`/`dec3` as the source has it (what
    /// a CMAF sample entry carries on); empty otherwise or when absent.
    pub dolby_config: Vec<u8>,
}

impl Track {
    /// Duration of the media in seconds, from `mdhd`.
    pub fn duration_seconds(&self) -> f64 {
        if self.timescale == 0 {
            0.0
        } else {
            self.duration as f64 / self.timescale as f64
        }
    }
}

impl Movie {
    /// Bytes this movie holds on the heap, mostly its sample tables; the codec
    /// configurations are counted by their parameter sets. An estimate for a
    /// cache's memory bound (`mp42hls --serve`), not an allocator's figure.
    pub fn heap_bytes(&self) -> usize {
        let tracks: usize = self
            .tracks
            .iter()
            .map(|t| std::mem::size_of::<Track>() + t.samples.heap_bytes() + t.codec.heap_bytes())
            .sum();
        tracks + self.file.compatible_brands.capacity() * 4
    }
}

impl Codec {
    fn heap_bytes(&self) -> usize {
        let units = |sets: &[Vec<u8>]| sets.iter().map(|u| u.capacity() + 24).sum::<usize>();
        match self {
            Codec::Avc(c) => units(&c.sps) + units(&c.pps),
            Codec::Hevc(c) => c.arrays.iter().map(|(_, u)| units(u) + 32).sum(),
            Codec::Aac(c) => c.decoder_info.capacity(),
            _ => 0,
        }
    }
}
