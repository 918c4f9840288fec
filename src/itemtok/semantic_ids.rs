//! Semantic ids (RecBase §3.1: an item's tuple of L codes, coarse to fine): per-level code usage
//! statistics (the paper's Figure 5c, issue 8 item 6) and collision handling for full tuples
//! (issue 8 item 5, DESIGN.md §8): two items with the same tuple are made distinct either by
//! moving the later ones to the nearest free last-level code or by appending a level.

use std::collections::{BTreeSet, HashMap};

use super::ItemTokError;

/// Code usage at one level of the ids.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LevelUsage {
    pub level: usize,
    /// Distinct codes used at this level.
    pub codes_used: usize,
    /// `H = -sum_c p_c ln p_c` over used codes, `p_c` = share of items on code `c` (nats).
    pub entropy: f64,
    /// `exp(H)`: the number of equally used codes with the same entropy.
    pub perplexity: f64,
    /// Share of items on the most used code.
    pub top_share: f64,
}

/// Usage statistics of each level of `ids` (one tuple per item; levels beyond a shorter tuple
/// count only the items that have them). Empty `ids` give no levels.
pub fn level_usage(ids: &[Vec<u32>]) -> Vec<LevelUsage> {
    let levels = ids.iter().map(Vec::len).max().unwrap_or(0);
    (0..levels)
        .map(|level| {
            let mut counts: HashMap<u32, usize> = HashMap::new();
            for tuple in ids.iter().filter_map(|t| t.get(level)) {
                *counts.entry(*tuple).or_default() += 1;
            }
            let total: usize = counts.values().sum();
            let entropy = counts
                .values()
                .map(|&n| {
                    let p = n as f64 / total as f64;
                    -p * p.ln()
                })
                .sum::<f64>();
            let top = counts.values().copied().max().unwrap_or(0);
            LevelUsage {
                level,
                codes_used: counts.len(),
                entropy,
                perplexity: entropy.exp(),
                top_share: top as f64 / total as f64,
            }
        })
        .collect()
}

/// Items that share a full id tuple.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CollisionReport {
    /// Each group: the item indices (ascending) sharing one tuple, at least two; groups ordered
    /// by their first item.
    pub groups: Vec<Vec<usize>>,
    /// Items in some group.
    pub colliding_items: usize,
    /// `1 - distinct tuples / items`: the share of items that must change for the ids to be
    /// collision-free (0 when every tuple is unique, or for no items).
    pub rate: f64,
}

/// Finds the items whose tuples collide.
pub fn find_collisions(ids: &[Vec<u32>]) -> CollisionReport {
    let mut by_tuple: HashMap<&[u32], Vec<usize>> = HashMap::new();
    for (item, tuple) in ids.iter().enumerate() {
        by_tuple.entry(tuple.as_slice()).or_default().push(item);
    }
    let distinct = by_tuple.len();
    let mut groups: Vec<Vec<usize>> = by_tuple.into_values().filter(|g| g.len() > 1).collect();
    groups.sort_by_key(|g| g[0]);
    let colliding_items = groups.iter().map(Vec::len).sum();
    let rate = if ids.is_empty() { 0.0 } else { 1.0 - distinct as f64 / ids.len() as f64 };
    CollisionReport { groups, colliding_items, rate }
}

/// How to make colliding ids distinct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollisionStrategy {
    /// Move every colliding item but the first of its group to the nearest free code of the last
    /// level ([`reassign_last_level`]); the tuples keep their length.
    #[default]
    ReassignLastLevel,
    /// Append one level numbering the items of each group 0, 1, 2, ... ([`append_level`]).
    AppendLevel,
}

/// Makes `ids` collision-free with `strategy`. `last_level_distances[i][c]` is item `i`'s
/// distance to last-level code `c`, required by [`CollisionStrategy::ReassignLastLevel`].
pub fn resolve_collisions(
    ids: &[Vec<u32>],
    strategy: CollisionStrategy,
    last_level_distances: Option<&[Vec<f32>]>,
) -> Result<Vec<Vec<u32>>, ItemTokError> {
    match strategy {
        CollisionStrategy::AppendLevel => Ok(append_level(ids)),
        CollisionStrategy::ReassignLastLevel => {
            let distances = last_level_distances.ok_or_else(|| {
                ItemTokError::config("collision_strategy", "reassign_last_level needs the last-level distances")
            })?;
            reassign_last_level(ids, distances)
        }
    }
}

/// Appends one level to every tuple: the item's rank inside its collision group (items are
/// ranked by index, the first keeps 0), and 0 for items that collide with nothing, so all tuples
/// grow by one and stay comparable level by level.
pub fn append_level(ids: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let mut seen: HashMap<&[u32], u32> = HashMap::new();
    ids.iter()
        .map(|tuple| {
            let rank = seen.entry(tuple.as_slice()).or_insert(0);
            let mut extended = tuple.clone();
            extended.push(*rank);
            *rank += 1;
            extended
        })
        .collect()
}

/// Moves colliding items to free last-level codes. In each collision group (groups in order of
/// their first item) the first item keeps its tuple; each later one, in index order, takes the
/// last-level code nearest to it by `distances[item]` (ties: the lower code) among the codes that
/// no item with the same prefix (all levels but the last) holds yet. The codebook size is the
/// length of the distance rows.
///
/// Errors with [`ItemTokError::NoFreeCode`] naming the first tuple of a prefix whose colliding
/// items outnumber its free codes; nothing is changed then.
pub fn reassign_last_level(ids: &[Vec<u32>], distances: &[Vec<f32>]) -> Result<Vec<Vec<u32>>, ItemTokError> {
    if distances.len() != ids.len() {
        return Err(ItemTokError::config(
            "last_level_distances",
            format!("{} rows for {} items", distances.len(), ids.len()),
        ));
    }
    let codebook_size = distances.first().map_or(0, Vec::len);
    for (item, (tuple, row)) in ids.iter().zip(distances).enumerate() {
        if row.len() != codebook_size {
            return Err(ItemTokError::DimensionMismatch { row: item, expected: codebook_size, found: row.len() });
        }
        match tuple.last() {
            None => return Err(ItemTokError::Empty { what: format!("item {item} has an empty id tuple") }),
            Some(&code) if code as usize >= codebook_size => {
                return Err(ItemTokError::CodeOutOfRange { item, code, codebook_size });
            }
            Some(_) => {}
        }
    }
    let report = find_collisions(ids);
    // Last-level codes held per prefix, and the moves each prefix needs.
    let prefix = |item: usize| &ids[item][..ids[item].len() - 1];
    let mut taken: HashMap<&[u32], BTreeSet<u32>> = HashMap::new();
    for (item, tuple) in ids.iter().enumerate() {
        taken.entry(prefix(item)).or_default().insert(tuple[tuple.len() - 1]);
    }
    let mut needed: HashMap<&[u32], (usize, usize)> = HashMap::new(); // prefix -> (moves, first group)
    for (g, group) in report.groups.iter().enumerate() {
        needed.entry(prefix(group[0])).or_insert((0, g)).0 += group.len() - 1;
    }
    let mut shortfalls: Vec<(usize, usize, usize)> = needed
        .iter()
        .filter_map(|(p, &(moves, g))| {
            let free = codebook_size - taken[p].len();
            (moves > free).then_some((g, moves, free))
        })
        .collect();
    shortfalls.sort_unstable();
    if let Some(&(g, colliding, free)) = shortfalls.first() {
        return Err(ItemTokError::NoFreeCode { tuple: ids[report.groups[g][0]].clone(), colliding, free });
    }
    let mut fixed = ids.to_vec();
    for group in &report.groups {
        for &item in &group[1..] {
            let held = taken.get_mut(prefix(item)).expect("every prefix was recorded");
            let code = (0..codebook_size as u32)
                .filter(|c| !held.contains(c))
                .min_by(|&a, &b| distances[item][a as usize].total_cmp(&distances[item][b as usize]).then(a.cmp(&b)))
                .expect("the shortfall check left a free code");
            held.insert(code);
            *fixed[item].last_mut().expect("tuples are non-empty") = code;
        }
    }
    Ok(fixed)
}

/// The semantic-id part of a tokenizer run's report (issue 8 item 6), written as JSON.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IdReport {
    pub items: usize,
    /// Usage per level of the ids as the codebooks assigned them (before the fix).
    pub levels: Vec<LevelUsage>,
    pub strategy: CollisionStrategy,
    /// Groups of items sharing a tuple, and [`CollisionReport::rate`], before the fix.
    pub collision_groups_before: usize,
    pub collision_rate_before: f64,
    /// [`CollisionReport::rate`] of the fixed ids (0 after a successful fix).
    pub collision_rate_after: f64,
}

/// Summarises the ids `before` and `after` the collision fix made with `strategy`.
pub fn id_report(before: &[Vec<u32>], after: &[Vec<u32>], strategy: CollisionStrategy) -> IdReport {
    let collisions = find_collisions(before);
    IdReport {
        items: before.len(),
        levels: level_usage(before),
        strategy,
        collision_groups_before: collisions.groups.len(),
        collision_rate_before: collisions.rate,
        collision_rate_after: find_collisions(after).rate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_by_hand() {
        // Level 0 codes 0, 0, 1, 2: p = 1/2, 1/4, 1/4, H = 1/2 ln 2 + 2 * 1/4 ln 4 = 1.5 ln 2,
        // perplexity = 2^1.5 = 2.828..., top share 2/4. Level 1 codes 5, 5, 5, 5: H = 0, ppl = 1.
        let ids = vec![vec![0, 5], vec![0, 5], vec![1, 5], vec![2, 5]];
        let usage = level_usage(&ids);
        assert_eq!(usage.len(), 2);
        assert_eq!(usage[0].codes_used, 3);
        assert!((usage[0].entropy - 1.5 * 2f64.ln()).abs() < 1e-12);
        assert!((usage[0].perplexity - 2f64.powf(1.5)).abs() < 1e-12);
        assert_eq!(usage[0].top_share, 0.5);
        assert_eq!(
            (usage[1].codes_used, usage[1].entropy, usage[1].perplexity, usage[1].top_share),
            (1, 0.0, 1.0, 1.0)
        );
        assert!(level_usage(&[]).is_empty());
    }

    #[test]
    fn collisions_by_hand() {
        // Items 0, 2, 4 share (1, 1); items 1, 3 share (0, 2); item 5 is alone.
        // 6 items, 3 distinct tuples: rate = 1 - 3/6 = 0.5.
        let ids = vec![vec![1, 1], vec![0, 2], vec![1, 1], vec![0, 2], vec![1, 1], vec![3, 3]];
        let report = find_collisions(&ids);
        assert_eq!(report.groups, vec![vec![0, 2, 4], vec![1, 3]]);
        assert_eq!(report.colliding_items, 5);
        assert_eq!(report.rate, 0.5);
        assert_eq!(find_collisions(&[vec![1], vec![2]]).rate, 0.0);
    }

    #[test]
    fn reassign_moves_only_later_colliding_items_to_nearest_free_code() {
        // K = 4. Prefix (1) holds codes 1 (items 0, 2, 4) and 3 (item 5): free 0 and 2.
        // Item 2 is nearest to code 3 (taken), then 2 -> takes 2; item 4 then takes 0, the only
        // free one left. Prefix (0): items 1, 3 on code 2, item 3 nearest free is 0.
        let ids = vec![vec![1, 1], vec![0, 2], vec![1, 1], vec![0, 2], vec![1, 1], vec![1, 3]];
        let distances = vec![
            vec![9.0, 0.0, 9.0, 9.0],
            vec![9.0, 9.0, 0.0, 9.0],
            vec![5.0, 0.1, 0.5, 0.2],
            vec![0.3, 0.3, 0.0, 0.3],
            vec![0.9, 0.0, 0.1, 0.0],
            vec![9.0, 9.0, 9.0, 0.0],
        ];
        let fixed = reassign_last_level(&ids, &distances).unwrap();
        assert_eq!(fixed, vec![vec![1, 1], vec![0, 2], vec![1, 2], vec![0, 0], vec![1, 0], vec![1, 3]]);
        assert!(find_collisions(&fixed).groups.is_empty());
        for item in [0, 1, 5] {
            assert_eq!(fixed[item], ids[item], "item {item} did not collide or came first");
        }
    }

    #[test]
    fn reassign_fails_naming_the_tuple_when_codes_run_out() {
        // K = 2, prefix (7) holds code 0 three times: 2 moves, 1 free code.
        let ids = vec![vec![7, 0], vec![7, 0], vec![7, 0]];
        let distances = vec![vec![0.0, 1.0]; 3];
        let err = reassign_last_level(&ids, &distances).unwrap_err();
        assert!(matches!(&err, ItemTokError::NoFreeCode { tuple, colliding: 2, free: 1 } if tuple == &[7, 0]), "{err}");
        assert!(err.to_string().contains("[7, 0]"));
    }

    #[test]
    fn append_level_numbers_each_group() {
        let ids = vec![vec![1, 1], vec![0, 2], vec![1, 1], vec![1, 1]];
        let fixed = resolve_collisions(&ids, CollisionStrategy::AppendLevel, None).unwrap();
        assert_eq!(fixed, vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 1, 1], vec![1, 1, 2]]);
        assert!(find_collisions(&fixed).groups.is_empty());
        // Before: 4 items, 2 distinct tuples -> rate 1 - 2/4 = 0.5, one group; after: 0.
        let report = id_report(&ids, &fixed, CollisionStrategy::AppendLevel);
        assert_eq!((report.items, report.collision_groups_before), (4, 1));
        assert_eq!((report.collision_rate_before, report.collision_rate_after), (0.5, 0.0));
        assert_eq!(report.levels, level_usage(&ids));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["strategy"], "append_level");
    }

    #[test]
    fn reassign_needs_distances() {
        let err = resolve_collisions(&[vec![1]], CollisionStrategy::ReassignLastLevel, None).unwrap_err();
        assert!(matches!(err, ItemTokError::InvalidConfig { .. }));
        let err = reassign_last_level(&[vec![4]], &[vec![0.0; 3]]).unwrap_err();
        assert!(matches!(err, ItemTokError::CodeOutOfRange { item: 0, code: 4, codebook_size: 3 }));
    }
}
