//! RecBase item tokenizer (RecBase §3.1-3.2, DESIGN.md §8): item text in one unified layout, the
//! text-encoder seam with the embedded TF-IDF + randomised-SVD encoder and the cached checkpoint
//! encoder, k-means, the RQ-VAE and its training with the CL-VAE curriculum and re-initialisation
//! rules, semantic-id usage statistics and collision handling, the item id table with its prefix
//! trie, reports, a 2-D PCA for plots, and the run directory that `recfound itemtok` reads.

pub mod assign;
pub mod checkpoint;
pub mod checkpoint_encoder;
pub mod curriculum;
pub mod embedding_cache;
pub mod error;
pub mod id_table;
pub mod item_text;
pub mod kmeans;
pub mod losses;
pub mod projection;
pub mod quantize;
pub mod recipe;
pub mod reinit;
pub mod report;
pub mod rqvae;
pub mod run;
pub mod run_encoder;
pub mod semantic_ids;
pub mod svd;
pub mod text_encoder;
pub mod tfidf;
pub mod tfidf_store;
pub mod train;

pub use checkpoint_encoder::{CheckpointEncoder, CheckpointEncoderConfig, Pooling};
pub use curriculum::{Curriculum, CurriculumRule};
pub use error::ItemTokError;
pub use id_table::{ItemIds, build_trie, read_id_table, write_id_table};
pub use item_text::{ItemRecord, TextLayout, item_text};
pub use kmeans::{KMeans, KMeansConfig, kmeans};
pub use projection::pca_2d;
pub use quantize::{Quantized, residual_quantize};
pub use reinit::{CodeUsage, ReinitRule};
pub use semantic_ids::{
    CollisionReport, CollisionStrategy, IdReport, LevelUsage, append_level, find_collisions, id_report, level_usage,
    reassign_last_level, resolve_collisions,
};
pub use svd::{SparseRow, Svd, SvdConfig, jacobi_eigen, randomized_svd};
pub use text_encoder::{TextEncoder, encode_items};
pub use tfidf::{TfidfConfig, TfidfSvd, for_each_term, term_counts};
pub use tfidf_store::TfidfFormat;
