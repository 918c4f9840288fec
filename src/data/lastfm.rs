//! Last.fm HetRec 2011 (`hetrec2011-lastfm-2k`, GroupLens): tab-separated files with one header
//! line. `artists.dat` is UTF-8, `tags.dat` Latin-1; `user_taggedartists.dat` holds one row per tag
//! assignment with a month-granular date, sorted by user and artist rather than by time. Some rows
//! name artists absent from `artists.dat` (a quirk of the original): [`LastFm::read`] skips and
//! counts them.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::{DataError, Encoding, for_each_line, open, parse_field, split_tabs};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artist {
    pub id: u32,
    pub name: String,
    pub url: String,
    pub picture_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub id: u32,
    pub value: String,
}

/// One row of `user_taggedartists.dat`: `user_id` tagged `artist_id` with `tag_id` on a date that
/// is month-granular in practice (`day` is 1 in 98% of rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagAssignment {
    pub user_id: u32,
    pub artist_id: u32,
    pub tag_id: u32,
    pub day: u32,
    pub month: u32,
    pub year: u32,
}

impl TagAssignment {
    /// `(year, month, day)`, for chronological order.
    pub fn date(&self) -> (u32, u32, u32) {
        (self.year, self.month, self.day)
    }
}

/// One row of `user_artists.dat`: how often `user_id` played `artist_id` (no time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayCount {
    pub user_id: u32,
    pub artist_id: u32,
    pub weight: u64,
}

/// The first time a user tagged an artist: one interaction event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstTag {
    pub user_id: u32,
    pub artist_id: u32,
    pub date: (u32, u32, u32),
}

/// The dataset with rows naming unknown artists removed, and how many there were.
#[derive(Debug, Clone)]
pub struct LastFm {
    pub artists: Vec<Artist>,
    pub tags: Vec<Tag>,
    pub tag_assignments: Vec<TagAssignment>,
    pub play_counts: Vec<PlayCount>,
    /// Rows of `user_taggedartists.dat` skipped because their artist is not in `artists.dat`.
    pub skipped_tag_assignments: usize,
    /// Rows of `user_artists.dat` skipped for the same reason.
    pub skipped_play_counts: usize,
}

impl LastFm {
    /// Reads the four data files of `dir`, skipping (and counting) rows with unknown artist ids.
    pub fn read(dir: &Path) -> Result<Self, DataError> {
        let artists = read_artists(&dir.join("artists.dat"))?;
        let tags = read_tags(&dir.join("tags.dat"))?;
        let known: HashSet<u32> = artists.iter().map(|a| a.id).collect();
        let mut tag_assignments = read_tag_assignments(&dir.join("user_taggedartists.dat"))?;
        let before = tag_assignments.len();
        tag_assignments.retain(|t| known.contains(&t.artist_id));
        let skipped_tag_assignments = before - tag_assignments.len();
        let mut play_counts = read_play_counts(&dir.join("user_artists.dat"))?;
        let before = play_counts.len();
        play_counts.retain(|p| known.contains(&p.artist_id));
        let skipped_play_counts = before - play_counts.len();
        if skipped_tag_assignments + skipped_play_counts > 0 {
            tracing::info!(
                skipped_tag_assignments,
                skipped_play_counts,
                "lastfm: rows naming artists absent from artists.dat skipped"
            );
        }
        Ok(Self { artists, tags, tag_assignments, play_counts, skipped_tag_assignments, skipped_play_counts })
    }
}

/// Reads a tab-separated file with one header line, calling `f(line, fields)` per data row.
fn for_each_row(
    path: &Path,
    encoding: Encoding,
    n: usize,
    mut f: impl FnMut(usize, &[&str]) -> Result<(), DataError>,
) -> Result<(), DataError> {
    for_each_line(path, open(path)?, encoding, |line, text| {
        if line == 1 || text.is_empty() {
            return Ok(()); // header
        }
        f(line, &split_tabs(path, line, text, n)?)
    })
}

/// Reads `artists.dat` (UTF-8).
pub fn read_artists(path: &Path) -> Result<Vec<Artist>, DataError> {
    let mut out = Vec::new();
    for_each_row(path, Encoding::Utf8, 4, |line, f| {
        let id = parse_field(path, line, "id", f[0])?;
        out.push(Artist { id, name: f[1].to_string(), url: f[2].to_string(), picture_url: f[3].to_string() });
        Ok(())
    })?;
    Ok(out)
}

/// Reads `tags.dat` (Latin-1).
pub fn read_tags(path: &Path) -> Result<Vec<Tag>, DataError> {
    let mut out = Vec::new();
    for_each_row(path, Encoding::Latin1, 2, |line, f| {
        out.push(Tag { id: parse_field(path, line, "tagID", f[0])?, value: f[1].to_string() });
        Ok(())
    })?;
    Ok(out)
}

/// Reads every row of `user_taggedartists.dat`, unknown artists included.
pub fn read_tag_assignments(path: &Path) -> Result<Vec<TagAssignment>, DataError> {
    let mut out = Vec::new();
    for_each_row(path, Encoding::Utf8, 6, |line, f| {
        let num = |i: usize, name: &str| parse_field::<u32>(path, line, name, f[i]);
        out.push(TagAssignment {
            user_id: num(0, "userID")?,
            artist_id: num(1, "artistID")?,
            tag_id: num(2, "tagID")?,
            day: num(3, "day")?,
            month: num(4, "month")?,
            year: num(5, "year")?,
        });
        Ok(())
    })?;
    Ok(out)
}

/// Reads every row of `user_artists.dat`, unknown artists included.
pub fn read_play_counts(path: &Path) -> Result<Vec<PlayCount>, DataError> {
    let mut out = Vec::new();
    for_each_row(path, Encoding::Utf8, 3, |line, f| {
        out.push(PlayCount {
            user_id: parse_field(path, line, "userID", f[0])?,
            artist_id: parse_field(path, line, "artistID", f[1])?,
            weight: parse_field(path, line, "weight", f[2])?,
        });
        Ok(())
    })?;
    Ok(out)
}

/// One event per distinct (user, artist): the earliest date the user tagged the artist.
/// Ordered by user, then chronologically, ties (common: dates are month-granular) by artist id.
pub fn first_tags(rows: &[TagAssignment]) -> Vec<FirstTag> {
    let mut first: BTreeMap<(u32, u32), (u32, u32, u32)> = BTreeMap::new();
    for r in rows {
        first.entry((r.user_id, r.artist_id)).and_modify(|d| *d = (*d).min(r.date())).or_insert(r.date());
    }
    let mut events: Vec<FirstTag> =
        first.into_iter().map(|((user_id, artist_id), date)| FirstTag { user_id, artist_id, date }).collect();
    events.sort_by_key(|e| (e.user_id, e.date, e.artist_id));
    events
}
