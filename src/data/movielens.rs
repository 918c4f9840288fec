//! MovieLens (GroupLens) `ratings.csv` and `movies.csv` as shipped in `ml-latest-small` / `ml-latest`:
//! CRLF line ends, titles quoted when they contain commas, genres separated by `|`
//! (`(no genres listed)` means none).

use std::path::Path;

use super::{CsvFile, DataError};

/// One row of `ratings.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    pub user_id: u32,
    pub movie_id: u32,
    /// 0.5 to 5.0 in half stars.
    pub rating: f32,
    /// Seconds since the Unix epoch.
    pub timestamp: i64,
}

/// One row of `movies.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Movie {
    pub movie_id: u32,
    /// The title with its year, e.g. `Toy Story (1995)`.
    pub title: String,
    pub genres: Vec<String>,
}

/// Calls `f` on every row of `ratings.csv` without holding them all (the full MovieLens has 33M).
pub fn for_each_rating(path: &Path, mut f: impl FnMut(Rating)) -> Result<(), DataError> {
    let mut csv = CsvFile::open(path)?;
    let (user, movie) = (csv.column("userId")?, csv.column("movieId")?);
    let (rating, time) = (csv.column("rating")?, csv.column("timestamp")?);
    csv.for_each(|row| {
        f(Rating {
            user_id: row.parse(user, "userId")?,
            movie_id: row.parse(movie, "movieId")?,
            rating: row.parse(rating, "rating")?,
            timestamp: row.parse(time, "timestamp")?,
        });
        Ok(())
    })
}

/// Reads `ratings.csv` (100,836 rows in ml-latest-small).
pub fn read_ratings(path: &Path) -> Result<Vec<Rating>, DataError> {
    let mut out = Vec::new();
    for_each_rating(path, |r| out.push(r))?;
    Ok(out)
}

/// Reads `movies.csv`.
pub fn read_movies(path: &Path) -> Result<Vec<Movie>, DataError> {
    let mut csv = CsvFile::open(path)?;
    let (id, title, genres) = (csv.column("movieId")?, csv.column("title")?, csv.column("genres")?);
    let mut out = Vec::new();
    csv.for_each(|row| {
        let genres = match row.get(genres)? {
            "(no genres listed)" | "" => Vec::new(),
            list => list.split('|').map(str::to_string).collect(),
        };
        out.push(Movie { movie_id: row.parse(id, "movieId")?, title: row.get(title)?.trim().to_string(), genres });
        Ok(())
    })?;
    Ok(out)
}

/// A MovieLens folder: ratings and movies.
#[derive(Debug, Clone)]
pub struct MovieLens {
    pub ratings: Vec<Rating>,
    pub movies: Vec<Movie>,
}

impl MovieLens {
    /// Reads `dir/ratings.csv` and `dir/movies.csv`.
    pub fn read(dir: &Path) -> Result<Self, DataError> {
        Ok(Self { ratings: read_ratings(&dir.join("ratings.csv"))?, movies: read_movies(&dir.join("movies.csv"))? })
    }
}
