//! recfound: recommendation foundation models (RecFound, RecBase) on Burn.
//!
//! Everything here is generic over Burn's `Backend`; only [`backend`] names concrete backends.
//! Start with [`backbone`] (the HF-compatible decoder), [`text`] (tokenizer and prompt
//! templates) and [`config`] (recipes).

pub mod adapters;
pub mod allocator;
pub mod backbone;
pub mod backend;
pub mod config;
pub mod data;
pub mod eval;
pub mod io;
pub mod itemtok;
pub mod kernels;
pub mod merge;
pub mod nn;
pub mod optim;
pub mod pipeline;
pub mod plot;
pub mod recbase;
pub mod recfound;
pub mod report;
pub mod text;
pub mod train;

/// The book's chapters, compiled and run as doc tests so their snippets stay true.
#[cfg(doctest)]
pub mod book {
    #[doc = include_str!("../book/src/backbone.md")]
    pub struct Backbone;
    #[doc = include_str!("../book/src/adapters.md")]
    pub struct Adapters;
}
