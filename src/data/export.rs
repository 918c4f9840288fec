//! Sources turned into RecBase domain folders (issue 5, item 5): each function maps one reader's
//! output to [`DomainFolder`] items and chronological sequences, then [`DomainFolder::assemble`]
//! drops untitled items and the references to them (counted in the report). The CLI's
//! `recfound data export-domain --source NAME` calls [`export_source`].

use std::collections::BTreeMap;
use std::path::Path;

use super::domain::{DomainFolder, DomainItem, DomainReport, DomainSequence};
use super::lastfm::{self, LastFm};
use super::movielens::MovieLens;
use super::{DataError, amazon_lcrec, amazon_minionerec, steam};

/// A source with interactions that can be exported as a domain folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainSource {
    /// `movielens/ml-latest-small`: every rating is an interaction.
    MovieLens,
    /// `amazon/scientific`: LC-Rec item and interaction JSON.
    AmazonScientific,
    /// `amazon/office`: MiniOneRec items, sequences rebuilt from the valid and test CSVs (their
    /// sliding windows cover at most the last 30 or so items of each user; no train CSV here).
    AmazonOffice,
    /// `steam`: LLaRA's validation and test rows (no user ids in the files).
    Steam,
    /// `lastfm/hetrec2011-lastfm-2k`: first time a user tagged an artist.
    LastFm,
}

impl DomainSource {
    pub const ALL: [Self; 5] = [Self::MovieLens, Self::AmazonScientific, Self::AmazonOffice, Self::Steam, Self::LastFm];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::MovieLens => "movielens",
            Self::AmazonScientific => "amazon-scientific",
            Self::AmazonOffice => "amazon-office",
            Self::Steam => "steam",
            Self::LastFm => "lastfm",
        }
    }

    /// The source called `name` (as [`Self::name`] spells it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The source's folder under a data root laid out like `../shared/data`.
    pub fn dir(self, data_root: &Path) -> std::path::PathBuf {
        data_root.join(match self {
            Self::MovieLens => "movielens/ml-latest-small",
            Self::AmazonScientific => "amazon/scientific",
            Self::AmazonOffice => "amazon/office",
            Self::Steam => "steam",
            Self::LastFm => "lastfm/hetrec2011-lastfm-2k",
        })
    }
}

/// Reads `source` from `data_root` and builds its domain folder (not yet written).
pub fn export_source(source: DomainSource, data_root: &Path) -> Result<(DomainFolder, DomainReport), DataError> {
    let dir = source.dir(data_root);
    Ok(match source {
        DomainSource::MovieLens => from_movielens(&MovieLens::read(&dir)?),
        DomainSource::AmazonScientific => from_lcrec(
            amazon_lcrec::read_items(&dir.join("Scientific.item.json"))?,
            amazon_lcrec::read_sequences(&dir.join("Scientific.inter.json"))?,
        ),
        DomainSource::AmazonOffice => from_lcrec(
            amazon_lcrec::read_items(&dir.join("Office_Products.item.json"))?,
            amazon_minionerec::read_user_sequences(&[
                &dir.join("Office_Products_valid.csv"),
                &dir.join("Office_Products_test.csv"),
            ])?,
        ),
        DomainSource::Steam => {
            let names = steam::read_id2name(&dir.join("id2name.txt"))?;
            let val = steam::read_rows(&dir.join("Val_data.jsonl"))?;
            let test = steam::read_rows(&dir.join("Test_data.jsonl"))?;
            from_steam(&names, &[("val", &val), ("test", &test)])
        }
        DomainSource::LastFm => from_lastfm(&LastFm::read(&dir)?),
    })
}

/// Items are movies (categories: genres joined with `, `); each user's ratings ordered by
/// timestamp, ties by movie id.
pub fn from_movielens(ml: &MovieLens) -> (DomainFolder, DomainReport) {
    let items = ml
        .movies
        .iter()
        .map(|m| DomainItem {
            categories: (!m.genres.is_empty()).then(|| m.genres.join(", ")),
            ..DomainItem::new(m.movie_id.to_string(), m.title.clone())
        })
        .collect();
    let mut by_user: BTreeMap<u32, Vec<(i64, u32)>> = BTreeMap::new();
    for r in &ml.ratings {
        by_user.entry(r.user_id).or_default().push((r.timestamp, r.movie_id));
    }
    let sequences = by_user
        .into_iter()
        .map(|(user, mut events)| {
            events.sort_unstable();
            DomainSequence { user_id: user.to_string(), item_ids: events.iter().map(|(_, m)| m.to_string()).collect() }
        })
        .collect();
    DomainFolder::assemble(items, sequences)
}

/// LC-Rec layout: the sequences are already chronological; categories joined with `, `.
pub fn from_lcrec(
    items: Vec<amazon_lcrec::LcRecItem>,
    sequences: Vec<amazon_lcrec::LcRecSequence>,
) -> (DomainFolder, DomainReport) {
    let items = items
        .into_iter()
        .map(|i| DomainItem {
            item_id: i.item_id,
            title: i.title,
            description: i.description,
            categories: (!i.categories.is_empty()).then(|| i.categories.join(", ")),
            brand: i.brand,
        })
        .collect();
    let sequences =
        sequences.into_iter().map(|s| DomainSequence { user_id: s.user_id, item_ids: s.item_ids }).collect();
    DomainFolder::assemble(items, sequences)
}

/// LLaRA's Steam rows carry no user ids: each row becomes one sequence (history, then the next
/// item) with user id `<split>-<row>` (0-based row within the split's file).
pub fn from_steam(
    names: &BTreeMap<u32, String>,
    splits: &[(&str, &[steam::SteamRow])],
) -> (DomainFolder, DomainReport) {
    let items = names.iter().map(|(id, name)| DomainItem::new(id.to_string(), name.clone())).collect();
    let mut sequences = Vec::new();
    for (split, rows) in splits {
        for (i, row) in rows.iter().enumerate() {
            let item_ids = row.seq.iter().chain([&row.next]).map(u32::to_string).collect();
            sequences.push(DomainSequence { user_id: format!("{split}-{i}"), item_ids });
        }
    }
    DomainFolder::assemble(items, sequences)
}

/// Items are artists; a user's sequence is the artists in the order the user first tagged them
/// (month-granular dates, ties by artist id). Rows naming unknown artists were already skipped
/// by [`LastFm::read`].
pub fn from_lastfm(data: &LastFm) -> (DomainFolder, DomainReport) {
    let items = data.artists.iter().map(|a| DomainItem::new(a.id.to_string(), a.name.clone())).collect();
    let mut sequences: Vec<DomainSequence> = Vec::new();
    for event in lastfm::first_tags(&data.tag_assignments) {
        let user_id = event.user_id.to_string();
        match sequences.last_mut() {
            Some(seq) if seq.user_id == user_id => seq.item_ids.push(event.artist_id.to_string()),
            _ => sequences.push(DomainSequence { user_id, item_ids: vec![event.artist_id.to_string()] }),
        }
    }
    DomainFolder::assemble(items, sequences)
}
