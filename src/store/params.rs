//! [`HashParams`]: the hashing parameters a store records, so one store never mixes hashes
//! made in different ways.

use crate::hash::Convention;
use std::fmt;

/// How the hashes of a store were made: everything besides the image that changes a hash or
/// an id. Recorded in the header of a format-2 store ([`StoreOptions::hash_params`]), returned
/// by [`StoreInfo::hash_params`]; [`StoreWriter::resume`] and [`merge`] refuse to mix stores
/// whose parameters differ. The dihedral flag is recorded beside them
/// ([`StoreInfo::dihedral`]).
///
/// The text form (its `Display`, parsed by `FromStr`) is
/// `convention=full-resolution,jpeg-min-side=0,exif=false,id-scheme=0`.
///
/// # Examples
/// ```
/// use imprint::hash::Convention;
/// use imprint::store::{HashParams, Store, StoreOptions, StoreWriter};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("run.imps");
/// let params = HashParams::new().convention(Convention::CppCli).id_scheme(2);
/// StoreWriter::create(&path, &StoreOptions::new().hash_params(params))?.finish()?;
/// assert_eq!(Store::open(&path)?.info().hash_params, Some(params));
/// assert_eq!(params.to_string().parse::<HashParams>()?, params);
/// // A resume with other parameters is refused.
/// assert!(StoreWriter::resume(&path, &StoreOptions::new()).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`StoreOptions::hash_params`]: super::StoreOptions::hash_params
/// [`StoreInfo::hash_params`]: super::StoreInfo::hash_params
/// [`StoreInfo::dihedral`]: super::StoreInfo::dihedral
/// [`StoreWriter::resume`]: super::StoreWriter::resume
/// [`merge`]: super::merge
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HashParams {
    /// How a decoded image is prepared before PDQ.
    pub convention: Convention,
    /// How JPEGs were decoded: 0 = exact decoding; otherwise `--fast` decoding, recorded as
    /// [`fast_jpeg_recorded`]: the rule's tag in the top byte ([`FAST_JPEG_RULE_TAG`], 2 for the
    /// rule of [`fast_jpeg_numerator`]: scales 1/8, 1/4 and 1/2 only, JPEGs under
    /// [`FAST_JPEG_MIN_PIXELS`] at full size) and the minimum side in the low 24 bits. Stores
    /// written before that rule recorded the bare side (tag 0, every scale n/8, every size), so
    /// their hashes are never mixed with the new rule's on resume or merge.
    ///
    /// [`fast_jpeg_recorded`]: crate::decode::fast_jpeg_recorded
    /// [`FAST_JPEG_RULE_TAG`]: crate::decode::FAST_JPEG_RULE_TAG
    /// [`fast_jpeg_numerator`]: crate::decode::fast_jpeg_numerator
    /// [`FAST_JPEG_MIN_PIXELS`]: crate::decode::FAST_JPEG_MIN_PIXELS
    pub jpeg_min_side: u32,
    /// Whether EXIF orientation was applied before hashing.
    pub exif: bool,
    /// How item ids were made from paths (the pipeline's id escaping scheme); 0 = not stated
    /// (ids chosen by the caller). A number, so a store says which scheme its ids follow.
    pub id_scheme: u32,
}

impl HashParams {
    /// Defaults: full resolution, exact decoding, no EXIF, id scheme 0 (not stated).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the convention.
    #[must_use]
    pub fn convention(mut self, c: Convention) -> Self {
        self.convention = c;
        self
    }

    /// Sets how JPEGs are decoded: 0 = exact, or the value [`fast_jpeg_recorded`] gives for
    /// `--fast` (see [`HashParams::jpeg_min_side`]).
    ///
    /// [`fast_jpeg_recorded`]: crate::decode::fast_jpeg_recorded
    #[must_use]
    pub fn jpeg_min_side(mut self, px: u32) -> Self {
        self.jpeg_min_side = px;
        self
    }

    /// Sets whether EXIF orientation is applied.
    #[must_use]
    pub fn exif(mut self, yes: bool) -> Self {
        self.exif = yes;
        self
    }

    /// Sets the id scheme number.
    #[must_use]
    pub fn id_scheme(mut self, n: u32) -> Self {
        self.id_scheme = n;
        self
    }
}

fn convention_name(c: Convention) -> &'static str {
    match c {
        Convention::FullResolution => "full-resolution",
        Convention::CppCli => "cpp-cli",
    }
}

impl fmt::Display for HashParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "convention={},jpeg-min-side={},exif={},id-scheme={}",
            convention_name(self.convention),
            self.jpeg_min_side,
            self.exif,
            self.id_scheme
        )
    }
}

/// Why a text form of [`HashParams`] was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad hashing parameters {text:?}: {problem}; expected all four of \
     convention=full-resolution|cpp-cli,jpeg-min-side=N,exif=true|false,id-scheme=N"
)]
pub struct ParseHashParamsError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl std::str::FromStr for HashParams {
    type Err = ParseHashParamsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |problem| ParseHashParamsError {
            text: text.to_owned(),
            problem,
        };
        let mut p = HashParams::default();
        let mut seen = [false; 4];
        for part in text.split(',') {
            let (key, value) = part.split_once('=').ok_or(err("each part is key=value"))?;
            let k = match key.trim() {
                "convention" => {
                    p.convention = match value.trim() {
                        "full-resolution" => Convention::FullResolution,
                        "cpp-cli" => Convention::CppCli,
                        _ => return Err(err("unknown convention")),
                    };
                    0
                }
                "jpeg-min-side" => {
                    p.jpeg_min_side = value.trim().parse().map_err(|_| err("bad number"))?;
                    1
                }
                "exif" => {
                    p.exif = value
                        .trim()
                        .parse()
                        .map_err(|_| err("exif is true or false"))?;
                    2
                }
                "id-scheme" => {
                    p.id_scheme = value.trim().parse().map_err(|_| err("bad number"))?;
                    3
                }
                _ => return Err(err("unknown key")),
            };
            if std::mem::replace(&mut seen[k], true) {
                return Err(err("a key is given twice"));
            }
        }
        if seen.contains(&false) {
            return Err(err("a key is missing"));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_rejects_partial_specs() {
        let p = HashParams::new()
            .convention(Convention::CppCli)
            .jpeg_min_side(256)
            .exif(true)
            .id_scheme(2);
        assert_eq!(p.to_string().parse::<HashParams>(), Ok(p));
        assert_eq!(
            HashParams::default().to_string(),
            "convention=full-resolution,jpeg-min-side=0,exif=false,id-scheme=0"
        );
        for bad in [
            "",
            "convention=cpp-cli",
            "convention=x,jpeg-min-side=0,exif=false,id-scheme=0",
            "convention=cpp-cli,jpeg-min-side=0,exif=false,id-scheme=0,exif=true",
            "convention=cpp-cli,jpeg-min-side=-1,exif=false,id-scheme=0",
        ] {
            assert!(bad.parse::<HashParams>().is_err(), "{bad}");
        }
    }
}
