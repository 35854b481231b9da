//! JSONL lines of hash lists: `{"hash": ..., "id"|"path": ..., "quality": ..., "dihedral": [...]}`.

use super::error::LineErrorKind;
use super::Entry;
use crate::hash::{Hashes, Pdq256};
use serde_json::Value;

/// The entry of one JSON line.
pub(super) fn parse_json(t: &str) -> Result<Entry, LineErrorKind> {
    let v: Value = serde_json::from_str(t).map_err(LineErrorKind::BadJson)?;
    let obj = v.as_object().ok_or(LineErrorKind::NotJsonObject)?;
    let id = ["id", "path", "name"]
        .iter()
        .find_map(|k| obj.get(*k))
        .map(|x| match x {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    let Some(h) = ["hash", "pdq"].iter().find_map(|k| obj.get(*k)) else {
        return Err(obj
            .get("error")
            .map_or(LineErrorKind::NoHashField, |cause| {
                LineErrorKind::FailedItem {
                    cause: cause.to_string(),
                }
            }));
    };
    let hash = parse_json_hash(h)?;
    let hashes = match obj.get("dihedral") {
        None | Some(Value::Null) => Hashes::One(hash),
        Some(Value::Array(list)) if list.len() == 8 => {
            let mut all = [hash; 8];
            for (slot, v) in all.iter_mut().zip(list) {
                *slot = parse_json_hash(v)?;
            }
            if all[0] != hash {
                return Err(LineErrorKind::JsonDihedralNotLedByHash);
            }
            Hashes::Dihedral(all)
        }
        Some(_) => return Err(LineErrorKind::DihedralNotEight),
    };
    let quality = match obj.get("quality") {
        None | Some(Value::Null) => None,
        Some(q) => Some(
            q.as_u64()
                .and_then(|q| u8::try_from(q).ok())
                .filter(|&q| q <= 100)
                .ok_or(LineErrorKind::JsonQuality)?,
        ),
    };
    Ok(Entry {
        id,
        hashes,
        quality,
    })
}

fn parse_json_hash(v: &Value) -> Result<Pdq256, LineErrorKind> {
    let h = v.as_str().ok_or(LineErrorKind::HashNotString)?;
    super::csv::parse_hash(h)
}
