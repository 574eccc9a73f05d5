//! Following a log file the way `tail -F` does: across rotation (the name points at a new
//! file) and truncation (the file shrinks), remembering how far it was read in a state file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::lines::{Line, LossyLines, MAX_LINE_BYTES};

/// Most bytes read from a file per look, so one look at a huge backlog stays a bounded batch.
const READ_PER_POLL: u64 = 4 * 1024 * 1024;

/// Where reading of a file stands: which file (its inode) and the offset of the first byte
/// not yet read as part of a whole line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub inode: u64,
    pub offset: u64,
}

pub struct Follower {
    path: PathBuf,
    file: Option<(File, u64)>,
    /// Offset of the next byte to read from `file`.
    offset: u64,
    /// Bytes after the last newline, waiting for the rest of their line.
    partial: Vec<u8>,
    /// Where to start when the file is first opened: a saved position, or its start or end.
    start: Start,
    notes: Vec<String>,
    said_missing: bool,
    /// Inside a line too long to keep, whose start was already reported.
    skipping: bool,
    /// Whether the last look read the file to its end.
    at_end: bool,
}

enum Start {
    Resume(Position),
    Beginning,
    End,
    /// Already opened once: a file that appears later is new and read from its start.
    Opened,
}

impl Follower {
    pub fn new(path: PathBuf, resume: Option<Position>, from_start: bool) -> Self {
        let start = match (resume, from_start) {
            (Some(position), _) => Start::Resume(position),
            (None, true) => Start::Beginning,
            (None, false) => Start::End,
        };
        Self {
            path,
            file: None,
            offset: 0,
            partial: Vec::new(),
            start,
            notes: Vec::new(),
            said_missing: false,
            skipping: false,
            at_end: false,
        }
    }

    /// Whether the last [`Follower::poll`] read everything the file held.
    pub fn at_end(&self) -> bool {
        self.at_end
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where a restart should resume: the start of the line not yet complete.
    pub fn position(&self) -> Option<Position> {
        self.file.as_ref().map(|(_, inode)| Position {
            inode: *inode,
            offset: self.offset.saturating_sub(self.partial.len() as u64),
        })
    }

    /// What happened to the file since the last call (rotation, truncation), for the log.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// The whole lines written since the last call.
    pub fn poll(&mut self) -> Result<Vec<Line>> {
        let mut bytes = Vec::new();
        if self.file.is_none() {
            self.open()?;
        }
        self.read_more(&mut bytes)?;
        let current = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (inode_of(&m), m.len()));
        match (&self.file, current) {
            (Some((_, open)), Some((inode, _))) if *open != inode => {
                // Rotated: the old file was read to its end above; the new one starts at 0.
                self.finish_partial(&mut bytes);
                self.notes.push(format!(
                    "{} was rotated; reading the new file",
                    self.path.display()
                ));
                self.file = None;
                self.start = Start::Opened;
                self.open()?;
                self.read_more(&mut bytes)?;
            }
            (Some(_), Some((_, len))) if len < self.offset => {
                self.notes.push(format!(
                    "{} was truncated; reading it from its start",
                    self.path.display()
                ));
                self.finish_partial(&mut bytes);
                self.offset = 0;
                self.read_more(&mut bytes)?;
            }
            _ => {}
        }
        Ok(self.whole_lines(bytes))
    }

    fn open(&mut self) -> Result<()> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !self.said_missing {
                    self.notes.push(format!(
                        "{} does not exist yet; waiting for it",
                        self.path.display()
                    ));
                    self.said_missing = true;
                }
                self.start = Start::Opened;
                return Ok(());
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot open {}", self.path.display()));
            }
        };
        let meta = file.metadata()?;
        let inode = inode_of(&meta);
        self.offset = match self.start {
            Start::Resume(p) if p.inode == inode && p.offset <= meta.len() => p.offset,
            Start::Resume(_) => {
                self.notes.push(format!(
                    "{} is not the file the state file remembers (rotated or truncated while stopped); reading it from its start",
                    self.path.display()
                ));
                0
            }
            Start::Beginning | Start::Opened => 0,
            Start::End => meta.len(),
        };
        self.start = Start::Opened;
        self.partial.clear();
        self.skipping = false;
        if self.offset > 0 {
            // Header lines (Zeek's `#fields`) say how to read the rest: a reader that joins
            // in the middle gets them first.
            self.partial = header_lines(&file)?;
        }
        self.file = Some((file, inode));
        Ok(())
    }

    fn read_more(&mut self, bytes: &mut Vec<u8>) -> Result<()> {
        let Some((file, _)) = &mut self.file else {
            self.at_end = true;
            return Ok(());
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let before = bytes.len();
        file.take(READ_PER_POLL)
            .read_to_end(bytes)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        let read = (bytes.len() - before) as u64;
        self.offset += read;
        self.at_end = read < READ_PER_POLL;
        Ok(())
    }

    /// A last line without its newline is whole when its file ends for good.
    fn finish_partial(&mut self, bytes: &mut Vec<u8>) {
        let mut pending = std::mem::take(&mut self.partial);
        pending.append(bytes);
        if !pending.is_empty() && !pending.ends_with(b"\n") {
            pending.push(b'\n');
        }
        *bytes = pending;
    }

    fn whole_lines(&mut self, bytes: Vec<u8>) -> Vec<Line> {
        let mut all = std::mem::take(&mut self.partial);
        all.extend_from_slice(&bytes);
        let mut start = 0;
        if self.skipping {
            // The rest of a line already reported as cut.
            match all.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    start = end + 1;
                    self.skipping = false;
                }
                None => return Vec::new(),
            }
        }
        let cut = all[start..]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(start, |i| start + i + 1);
        self.partial = all.split_off(cut);
        let mut lines: Vec<Line> = LossyLines::new(&all[start..])
            .filter_map(|l| l.ok())
            .collect();
        // A line with no end in sight is reported now, cut, and the rest of it skipped.
        if self.partial.len() > MAX_LINE_BYTES {
            let text = String::from_utf8_lossy(&self.partial[..MAX_LINE_BYTES]).into_owned();
            lines.push(Line {
                text,
                problem: Some(format!(
                    "line is over {MAX_LINE_BYTES} bytes long; only its first {MAX_LINE_BYTES} were read"
                )),
            });
            self.partial.clear();
            self.skipping = true;
        }
        lines
    }
}

/// The `#` lines a file starts with, each with its newline.
fn header_lines(mut file: &File) -> Result<Vec<u8>> {
    let mut head = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.take(MAX_LINE_BYTES as u64).read_to_end(&mut head)?;
    let mut end = 0;
    while head[end..].starts_with(b"#") {
        match head[end..].iter().position(|&b| b == b'\n') {
            Some(newline) => end += newline + 1,
            None => break,
        }
    }
    head.truncate(end);
    Ok(head)
}

#[cfg(unix)]
fn inode_of(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode_of(_: &std::fs::Metadata) -> u64 {
    0
}

/// How far each followed file was read, kept as JSON beside the logs.
pub struct StateFile {
    path: PathBuf,
    positions: BTreeMap<String, Position>,
}

impl StateFile {
    /// Loads a state file; one that does not exist yet is an empty state.
    pub fn load(path: PathBuf) -> Result<Self> {
        let positions = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "state file {} is damaged; delete it to start over",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(Self { path, positions })
    }

    pub fn position(&self, log: &Path) -> Option<Position> {
        self.positions.get(&key(log)).copied()
    }

    pub fn set(&mut self, log: &Path, position: Option<Position>) {
        if let Some(position) = position {
            self.positions.insert(key(log), position);
        }
    }

    pub fn save(&self) -> Result<()> {
        labelled::files::write_atomic(&self.path, &serde_json::to_vec_pretty(&self.positions)?)
    }
}

/// Logs are keyed by absolute path, so a restart from another folder still finds them.
fn key(log: &Path) -> String {
    std::path::absolute(log)
        .unwrap_or_else(|_| log.to_owned())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn texts(lines: Vec<Line>) -> Vec<String> {
        lines.into_iter().map(|l| l.text).collect()
    }

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn follows_growth_rotation_and_truncation_and_resumes() {
        let dir = std::env::temp_dir().join(format!("dga-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("dns.log");
        append(&log, "old.com\n");
        let mut f = Follower::new(log.clone(), None, false);
        assert!(f.poll().unwrap().is_empty(), "starts at the end");
        append(&log, "a.com\nb.co");
        assert_eq!(texts(f.poll().unwrap()), ["a.com"]);
        append(&log, "m\n");
        assert_eq!(texts(f.poll().unwrap()), ["b.com"]);

        // A restart resumes at the saved position, including a half-written line.
        append(&log, "c.com\nhal");
        let saved = {
            let mut g = Follower::new(log.clone(), f.position(), false);
            assert_eq!(texts(g.poll().unwrap()), ["c.com"]);
            g.position()
        };
        append(&log, "f.com\n");
        let mut f = Follower::new(log.clone(), saved, false);
        assert_eq!(texts(f.poll().unwrap()), ["half.com"]);

        // Rotation: the rest of the old file, then the new file from its start.
        append(&log, "last-old.com\n");
        std::fs::rename(&log, dir.join("dns.log.1")).unwrap();
        append(&log, "new.com\n");
        assert_eq!(texts(f.poll().unwrap()), ["last-old.com", "new.com"]);
        assert!(f.take_notes().iter().any(|n| n.contains("rotated")));

        // Truncation: read from the start again.
        std::fs::write(&log, "t.com\n").unwrap();
        assert_eq!(texts(f.poll().unwrap()), ["t.com"]);
        assert!(f.take_notes().iter().any(|n| n.contains("truncated")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
