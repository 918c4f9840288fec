//! The quickstart's `[recbase_quickstart]` section: after the RecFound stages, pretrain a RecBase
//! decoder with a separate `kind = "recbase"` recipe and score a domain it never saw zero-shot.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[recbase_quickstart]`: both paths are relative to the quickstart recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecBaseQuickstartSection {
    /// A `kind = "recbase"` recipe (pretrained into `RUN/recbase/`).
    pub recipe: PathBuf,
    /// A domain folder left out of that recipe's domains, scored zero-shot.
    pub zero_shot_domain: PathBuf,
}
