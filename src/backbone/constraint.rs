//! Constraints on which tokens a beam may emit next. A prefix trie of allowed token sequences
//! (RecBase's item ids) plugs into beam search as a logits mask, not as a fork of the loop.

use std::collections::BTreeMap;

/// Decides the tokens allowed after what a beam has generated so far.
pub trait TokenConstraint {
    /// Allowed next tokens after `generated` (new tokens only, prompt excluded). An empty list
    /// means the beam cannot continue.
    fn allowed(&self, generated: &[u32]) -> Vec<u32>;
}

/// A prefix trie of complete token sequences; after a complete sequence only `end_tokens`
/// (typically EOS) may follow.
#[derive(Debug, Clone, Default)]
pub struct PrefixTrie {
    /// Node 0 is the root; each node maps a token to its child node.
    children: Vec<BTreeMap<u32, usize>>,
    terminal: Vec<bool>,
    end_tokens: Vec<u32>,
}

impl PrefixTrie {
    /// A trie of `sequences`, with `end_tokens` allowed after each complete one.
    pub fn new<'a>(sequences: impl IntoIterator<Item = &'a [u32]>, end_tokens: Vec<u32>) -> Self {
        let mut trie = Self { children: vec![BTreeMap::new()], terminal: vec![false], end_tokens };
        for seq in sequences {
            trie.insert(seq);
        }
        trie
    }

    pub fn insert(&mut self, seq: &[u32]) {
        let mut node = 0;
        for &token in seq {
            node = match self.children[node].get(&token) {
                Some(&child) => child,
                None => {
                    self.children.push(BTreeMap::new());
                    self.terminal.push(false);
                    let child = self.children.len() - 1;
                    self.children[node].insert(token, child);
                    child
                }
            };
        }
        self.terminal[node] = true;
    }

    fn node(&self, prefix: &[u32]) -> Option<usize> {
        prefix.iter().try_fold(0, |node, t| self.children[node].get(t).copied())
    }

    /// Whether `seq` is one of the inserted sequences.
    pub fn contains(&self, seq: &[u32]) -> bool {
        self.node(seq).is_some_and(|n| self.terminal[n])
    }

    /// Number of complete sequences.
    pub fn len(&self) -> usize {
        self.terminal.iter().filter(|t| **t).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TokenConstraint for PrefixTrie {
    fn allowed(&self, generated: &[u32]) -> Vec<u32> {
        // A trailing end token closes a complete sequence: nothing may follow it.
        let Some(node) = self.node(generated) else {
            return Vec::new();
        };
        let mut allowed: Vec<u32> = self.children[node].keys().copied().collect();
        if self.terminal[node] {
            allowed.extend(&self.end_tokens);
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_only_continuations_of_inserted_sequences() {
        let seqs: [&[u32]; 3] = [&[1, 2, 3], &[1, 4], &[5]];
        let trie = PrefixTrie::new(seqs, vec![99]);
        assert_eq!(trie.allowed(&[]), vec![1, 5]);
        assert_eq!(trie.allowed(&[1]), vec![2, 4]);
        assert_eq!(trie.allowed(&[1, 4]), vec![99]);
        assert_eq!(trie.allowed(&[7]), Vec::<u32>::new());
        assert!(trie.contains(&[1, 2, 3]) && !trie.contains(&[1, 2]));
        assert_eq!(trie.len(), 3);
    }
}
