//! The on-disk cache of the checkpoint text encoder (issue 8 item 2: "cached to disk
//! (safetensors) keyed by the item text hash"). One file per encoder identity (checkpoint
//! fingerprint + pooling settings), `<dir>/<identity>.safetensors`, holding `text_sha256`
//! (U8 `[N, 32]`, SHA-256 of each text's UTF-8 bytes) and `embedding` (F32 `[N, D]`), with the
//! identity as metadata. A different model or setting has another identity, so another file:
//! vectors are never reused across models. Writes are atomic; a damaged file is an error naming
//! it (deleting it only costs a re-encode), never a silent miss that would hide a broken disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

use super::ItemTokError;

const FORMAT: &str = "recfound-text-embedding-cache";
const VERSION: u32 = 1;
/// Hex characters of the identity in the file name: 128 bits, so two identities never share a file.
const NAME_HEX: usize = 32;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The vectors one encoder computed so far, by text hash.
#[derive(Debug)]
pub struct EmbeddingCache {
    path: PathBuf,
    /// Hex SHA-256 of the encoder identity; the file's metadata must repeat it.
    identity: String,
    dim: usize,
    keys: Vec<[u8; 32]>,
    /// `keys.len() * dim` values, row-major.
    values: Vec<f32>,
    index: HashMap<[u8; 32], usize>,
    /// Rows added since the last save.
    dirty: bool,
}

impl EmbeddingCache {
    /// The cache of the encoder with hex identity `identity` (64 hex characters) and vectors of
    /// `dim` values in `dir`: read from its file when there is one, else empty.
    pub fn open(dir: &Path, identity: &str, dim: usize) -> Result<Self, ItemTokError> {
        let name = identity.get(..NAME_HEX).unwrap_or(identity);
        let path = dir.join(format!("{name}.safetensors"));
        let mut cache = Self {
            path,
            identity: identity.to_string(),
            dim,
            keys: Vec::new(),
            values: Vec::new(),
            index: HashMap::new(),
            dirty: false,
        };
        if cache.path.is_file() {
            let bytes =
                std::fs::read(&cache.path).map_err(|source| ItemTokError::Io { path: cache.path.clone(), source })?;
            cache.read(&bytes).map_err(|message| ItemTokError::Format {
                path: cache.path.clone(),
                message: format!("{message} (a damaged embedding cache: delete the file to recompute it)"),
            })?;
        }
        Ok(cache)
    }

    /// The file this cache reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The cached vector of the text with hash `key`.
    pub fn get(&self, key: &[u8; 32]) -> Option<&[f32]> {
        self.index.get(key).map(|&row| &self.values[row * self.dim..(row + 1) * self.dim])
    }

    /// Adds (or keeps) the vector of `key`. A vector of the wrong length is an error.
    pub fn insert(&mut self, key: [u8; 32], vector: &[f32]) -> Result<(), ItemTokError> {
        if vector.len() != self.dim {
            return Err(ItemTokError::DimensionMismatch {
                row: self.keys.len(),
                expected: self.dim,
                found: vector.len(),
            });
        }
        if self.index.contains_key(&key) {
            return Ok(());
        }
        self.index.insert(key, self.keys.len());
        self.keys.push(key);
        self.values.extend_from_slice(vector);
        self.dirty = true;
        Ok(())
    }

    /// Writes the file atomically when rows were added since it was read.
    pub fn save(&mut self) -> Result<(), ItemTokError> {
        if !self.dirty {
            return Ok(());
        }
        let bytes = self.to_bytes().map_err(|message| ItemTokError::Format { path: self.path.clone(), message })?;
        crate::io::write_atomic(&self.path, &bytes)
            .map_err(|source| ItemTokError::Io { path: self.path.clone(), source })?;
        self.dirty = false;
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let n = self.keys.len();
        let keys: Vec<u8> = self.keys.iter().flatten().copied().collect();
        let values: Vec<u8> = self.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = |dtype, shape, data| TensorView::new(dtype, shape, data).map_err(|e| e.to_string());
        let tensors = [
            ("embedding", view(Dtype::F32, vec![n, self.dim], &values)?),
            ("text_sha256", view(Dtype::U8, vec![n, 32], &keys)?),
        ];
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("version".to_string(), VERSION.to_string()),
            ("identity".to_string(), self.identity.clone()),
        ]);
        safetensors::serialize(tensors, Some(metadata)).map_err(|e| e.to_string())
    }

    /// Fills the cache from a file's bytes; the error says what is wrong with them.
    fn read(&mut self, bytes: &[u8]) -> Result<(), String> {
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
        let meta = header.metadata().as_ref().ok_or("no metadata")?;
        let field = |key: &str| meta.get(key).ok_or_else(|| format!("metadata `{key}` missing"));
        if field("format")? != FORMAT || field("version")? != &VERSION.to_string() {
            return Err(format!("not a {FORMAT} file of version {VERSION}"));
        }
        if field("identity")? != &self.identity {
            // Only a renamed or hand-copied file gets here: refuse vectors of another model.
            return Err(format!("written for encoder {}, not {}", field("identity")?, self.identity));
        }
        let keys = tensors.tensor("text_sha256").map_err(|e| format!("tensor `text_sha256`: {e}"))?;
        let values = tensors.tensor("embedding").map_err(|e| format!("tensor `embedding`: {e}"))?;
        let n = keys.shape().first().copied().unwrap_or(0);
        if keys.dtype() != Dtype::U8 || keys.shape() != [n, 32] {
            return Err(format!(
                "tensor `text_sha256`: expected U8 [N, 32], found {:?} {:?}",
                keys.dtype(),
                keys.shape()
            ));
        }
        if values.dtype() != Dtype::F32 || values.shape() != [n, self.dim] {
            let found = format!("{:?} {:?}", values.dtype(), values.shape());
            return Err(format!("tensor `embedding`: expected F32 [{n}, {}], found {found}", self.dim));
        }
        for chunk in keys.data().chunks_exact(32) {
            let mut key = [0u8; 32];
            key.copy_from_slice(chunk);
            if self.index.insert(key, self.keys.len()).is_some() {
                return Err(format!("tensor `text_sha256`: row {} repeats a text hash", self.keys.len()));
            }
            self.keys.push(key);
        }
        self.values = values.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn sha256_of_abc_is_the_published_vector() {
        // FIPS 180-2, appendix B.1.
        assert_eq!(hex(&sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn round_trip_and_damage_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = EmbeddingCache::open(dir.path(), IDENTITY, 2).unwrap();
        assert!(cache.is_empty());
        cache.insert(sha256(b"pen"), &[1.0, 2.0]).unwrap();
        cache.insert(sha256(b"mug"), &[3.0, 4.0]).unwrap();
        assert!(cache.insert(sha256(b"lamp"), &[1.0]).is_err());
        cache.save().unwrap();
        assert!(cache.path().ends_with("00112233445566778899aabbccddeeff.safetensors"));
        let again = EmbeddingCache::open(dir.path(), IDENTITY, 2).unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(again.get(&sha256(b"mug")), Some(&[3.0, 4.0][..]));
        assert_eq!(again.get(&sha256(b"lamp")), None);

        // Same file name, other identity (a hand-copied file): refused, not reused.
        let other = format!("{}{}", &IDENTITY[..32], "f".repeat(32));
        let err = EmbeddingCache::open(dir.path(), &other, 2).unwrap_err().to_string();
        assert!(err.contains("written for encoder"), "{err}");
        // Truncated: an error naming the file.
        let bytes = std::fs::read(cache.path()).unwrap();
        std::fs::write(cache.path(), &bytes[..bytes.len() - 3]).unwrap();
        let err = EmbeddingCache::open(dir.path(), IDENTITY, 2).unwrap_err().to_string();
        assert!(err.contains("00112233445566778899aabbccddeeff.safetensors") && err.contains("delete"), "{err}");
        // Another width than the encoder's: named.
        std::fs::write(cache.path(), &bytes).unwrap();
        let err = EmbeddingCache::open(dir.path(), IDENTITY, 3).unwrap_err().to_string();
        assert!(err.contains("`embedding`"), "{err}");
    }
}
