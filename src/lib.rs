//! recfound: recommendation foundation models (RecFound, RecBase) on Burn.
//!
//! Everything here is generic over Burn's `Backend`; only [`backend`] names concrete backends.
//! Start with [`backbone`] (the HF-compatible decoder), [`text`] (tokenizer and prompt
//! templates) and [`config`] (recipes).

pub mod backbone;
pub mod backend;
pub mod config;
pub mod io;
pub mod pipeline;
pub mod text;
