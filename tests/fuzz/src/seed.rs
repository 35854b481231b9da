//! Writes starting corpora for the three targets: small valid files, so that mutations start
//! from the real structure. `decode` gets the repository's test images under 48 KiB (every
//! format, the Pillow variants, the GIF compositions, EXIF orientations).
//!
//! ```sh
//! cargo run --release --bin seed      # from tests/fuzz; then cargo fuzz run index / store
//! ```

use imprint::hash::{DihedralHashes, PdqHash};
use imprint::index::synthetic::near_duplicates;
use imprint::index::IndexBuilder;
use imprint::store::{StoreOptions, StoreWriter};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let (index_dir, store_dir) = (root.join("index"), root.join("store"));
    let decode_dir = root.join("decode");
    for dir in [&index_dir, &store_dir, &decode_dir] {
        std::fs::create_dir_all(dir)?;
    }

    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut images = 0;
    let mut dirs = vec![repo.join("tests/data"), repo.join("datasets/sample")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            let image =
                ["jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff"].contains(&ext.as_str());
            if image && std::fs::metadata(&path)?.len() < 48 << 10 {
                let name = path
                    .strip_prefix(&repo)?
                    .to_string_lossy()
                    .replace('/', "_");
                std::fs::copy(&path, decode_dir.join(name))?;
                images += 1;
            }
        }
    }
    println!("{images} images");

    // Indexes: tiny to small, with and without the graph, few and many substrings.
    for (i, &(n, m, graph)) in [
        (1usize, 8u32, true),
        (5, 16, true),
        (40, 16, true),
        (40, 32, false),
        (120, 8, true),
    ]
    .iter()
    .enumerate()
    {
        let (hashes, _) = near_duplicates(n, 0, i as u64 + 1);
        let ids: Vec<String> = (0..n).map(|k| format!("item-{k}")).collect();
        let bytes = IndexBuilder::new()
            .mih_num_substrings(m)
            .hnsw(graph)
            .m(4)
            .m0(8)
            .build(&hashes, &ids)?;
        std::fs::write(index_dir.join(format!("seed-{i}.impi")), bytes)?;
    }

    // Stores: 8 KiB blocks, plain and dihedral, hashes and errors, one block and several.
    let (hashes, _) = near_duplicates(60, 0, 7);
    for (i, &(dihedral, n)) in [(false, 3usize), (false, 60), (true, 4), (true, 40)]
        .iter()
        .enumerate()
    {
        let path = store_dir.join(format!("seed-{i}.imps"));
        let _ = std::fs::remove_file(&path);
        let options = StoreOptions::new().dihedral(dihedral).block_size(8192);
        let mut w = StoreWriter::create(&path, &options)?;
        for (k, h) in hashes.iter().take(n).enumerate() {
            let id = format!("dir/{k}.jpg");
            if k % 5 == 4 {
                w.append_error(&id, "corrupt JPEG: bad Huffman code")?;
            } else if dihedral {
                let d = DihedralHashes {
                    hashes: [*h; 8],
                    quality: 90,
                };
                w.append_dihedral(&id, &d)?;
            } else {
                w.append_hash(
                    &id,
                    &PdqHash {
                        hash: *h,
                        quality: 90,
                    },
                )?;
            }
        }
        w.finish()?;
    }
    // Format-1 stores (read, no longer written), so their block rules are fuzzed too.
    for name in ["plain.imps", "dihedral.imps"] {
        let golden = repo.join("tests/data/format/store/v1").join(name);
        std::fs::copy(golden, store_dir.join(format!("v1-{name}")))?;
    }
    println!("seeds written under {}", root.display());
    Ok(())
}
