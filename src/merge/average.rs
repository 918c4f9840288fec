//! Plain parameter averaging of checkpoints, the baseline TIES is compared with.

use super::MergeError;

/// Element-wise mean of equally long checkpoints of one tensor (accumulated in f64).
pub fn average(checkpoints: &[&[f32]]) -> Result<Vec<f32>, MergeError> {
    let first = checkpoints.first().ok_or(MergeError::NoCheckpoints)?;
    for (checkpoint, c) in checkpoints.iter().enumerate() {
        if c.len() != first.len() {
            return Err(MergeError::TensorLength { tensor: 0, checkpoint, expected: first.len(), found: c.len() });
        }
    }
    let m = checkpoints.len() as f64;
    Ok((0..first.len()).map(|i| (checkpoints.iter().map(|c| f64::from(c[i])).sum::<f64>() / m) as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_by_hand() {
        // [(1 + 2 + 6)/3, (0 - 3 + 0)/3] = [3, -1].
        assert_eq!(average(&[&[1.0, 0.0], &[2.0, -3.0], &[6.0, 0.0]]).unwrap(), vec![3.0, -1.0]);
        assert_eq!(average(&[&[0.5, 0.25]]).unwrap(), vec![0.5, 0.25]);
    }

    #[test]
    fn bad_input() {
        assert_eq!(average(&[]), Err(MergeError::NoCheckpoints));
        assert_eq!(
            average(&[&[1.0], &[1.0, 2.0]]),
            Err(MergeError::TensorLength { tensor: 0, checkpoint: 1, expected: 1, found: 2 })
        );
    }
}
