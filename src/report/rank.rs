//! The "Average Rank" column of RecFound's Tables 2-3: each row is ranked per task (higher is
//! better), and a row's average rank is the mean of its ranks, with their spread.
//!
//! Ties share the best rank ("1224" competition ranking). That is what the paper's numbers
//! imply: in Table 2 two models tie on SR at 0.251 and both count rank 1 (RecFound's ranks then
//! sum to 13 over ten tasks, its printed 1.30; average ranks for ties would give 1.40). Its
//! spread is the population standard deviation (numpy's `std`): "w/o Model Merge" has ranks
//! 1,2,1,4,1,1,2,1,3,2, mean 1.8, population std 0.98 as printed (the sample std is 1.03).
//! Table 3 prints sample stds instead (GritLM-7B 2.67 (0.58) from ranks 2,3,3); we use one
//! rule for both tables, Table 2's.

/// Decimal places values are compared at: the precision tables print, so two rows that read the
/// same also rank the same (and float noise in the 10th digit never decides a rank).
pub const RANK_DECIMALS: i32 = 4;

/// Competition ranks (1 = best, higher values better) of one task's column; rows without a
/// value get no rank and do not push others down. Values are compared after rounding to
/// [`RANK_DECIMALS`] places.
pub fn competition_ranks(values: &[Option<f64>]) -> Vec<Option<usize>> {
    let scale = 10f64.powi(RANK_DECIMALS);
    let rounded: Vec<Option<f64>> = values.iter().map(|v| v.filter(|x| x.is_finite()).map(|x| (x * scale).round())).collect();
    rounded
        .iter()
        .map(|v| v.map(|x| 1 + rounded.iter().flatten().filter(|&&other| other > x).count()))
        .collect()
}

/// Mean and population standard deviation of a row's ranks; `None` when it has none.
pub fn mean_and_std(ranks: &[usize]) -> Option<(f64, f64)> {
    if ranks.is_empty() {
        return None;
    }
    let n = ranks.len() as f64;
    let mean = ranks.iter().map(|&r| r as f64).sum::<f64>() / n;
    let var = ranks.iter().map(|&r| (r as f64 - mean).powi(2)).sum::<f64>() / n;
    Some((mean, var.sqrt()))
}

/// Per column the ranks of its cells; per row its (mean rank, rank std).
pub type TableRanks = (Vec<Vec<Option<usize>>>, Vec<Option<(f64, f64)>>);

/// Ranks of every cell of a table (`columns[c][r]` = value of row `r` in column `c`), and each
/// row's average rank with its std over the columns where it has a value.
pub fn average_ranks(columns: &[Vec<Option<f64>>], rows: usize) -> TableRanks {
    let ranks: Vec<Vec<Option<usize>>> = columns.iter().map(|c| competition_ranks(c)).collect();
    let per_row = (0..rows)
        .map(|r| {
            let mine: Vec<usize> = ranks.iter().filter_map(|c| c.get(r).copied().flatten()).collect();
            mean_and_std(&mine)
        })
        .collect();
    (ranks, per_row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn ties_share_the_best_rank_and_missing_values_are_skipped() {
        // 0.5, 0.9, 0.5, -, 0.1 -> 0.9 first; the two 0.5 share rank 2; 0.1 is 4th (1224).
        let r = competition_ranks(&[Some(0.5), Some(0.9), Some(0.5), None, Some(0.1)]);
        assert_eq!(r, [Some(2), Some(1), Some(2), None, Some(4)]);
        // Equal at 4 decimals -> tied; NaN counts as missing.
        assert_eq!(competition_ranks(&[Some(0.123_41), Some(0.123_44), Some(f64::NAN)]), [Some(1), Some(1), None]);
    }

    #[test]
    fn mean_and_population_std_by_hand() {
        // Table 2's "w/o Model Merge": ranks sum 18 over 10 -> 1.8; squared deviations sum to
        // 9.6 -> population variance 0.96 -> std 0.9798 (printed 0.98).
        let (m, s) = mean_and_std(&[1, 2, 1, 4, 1, 1, 2, 1, 3, 2]).unwrap();
        assert!(close(m, 1.8) && close(s, 0.96f64.sqrt()));
        assert_eq!(mean_and_std(&[]), None);
    }

    #[test]
    fn a_table_of_three_rows() {
        // Column A: 0.9, 0.8, 0.8 -> ranks 1, 2, 2. Column B: 0.1, 0.3, - -> ranks 2, 1, -.
        // Row 0: (1 + 2) / 2 = 1.5, std 0.5. Row 1: (2 + 1) / 2 = 1.5. Row 2: 2 (one column), std 0.
        let cols = vec![vec![Some(0.9), Some(0.8), Some(0.8)], vec![Some(0.1), Some(0.3), None]];
        let (ranks, avg) = average_ranks(&cols, 3);
        assert_eq!(ranks, vec![vec![Some(1), Some(2), Some(2)], vec![Some(2), Some(1), None]]);
        assert_eq!(avg, vec![Some((1.5, 0.5)), Some((1.5, 0.5)), Some((2.0, 0.0))]);
    }

    #[test]
    fn paper_table_2_recfound_row() {
        // The last two rows of Table 2 and GritLM (finetuned), on QR, SR, PM: RecFound's
        // 0.973 ties GritLM behind 0.974 (rank 2), 0.251 leads SR, 0.994 leads PM.
        let cols = vec![
            vec![Some(0.973), Some(0.974), Some(0.973)], // QR: GritLM, w/o M.M., RecFound
            vec![Some(0.242), Some(0.234), Some(0.251)], // SR
            vec![Some(0.967), Some(0.988), Some(0.994)], // PM
        ];
        let (_, avg) = average_ranks(&cols, 3);
        // RecFound: 2, 1, 1 -> 4/3. w/o M.M.: 1, 3, 2 -> 2. GritLM: 2, 2, 3 -> 7/3.
        assert!(close(avg[2].unwrap().0, 4.0 / 3.0) && close(avg[1].unwrap().0, 2.0) && close(avg[0].unwrap().0, 7.0 / 3.0));
    }
}
