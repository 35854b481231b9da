//! Tar archives, read as one stream: each regular member is an item, `archive:member`.

use super::read::{read_screened, Content, ReadFailure};
use super::walk::Walker;
use crate::error::{Error, Result};
use crate::pipeline::id::{escape_id, path_id};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

impl Walker<'_> {
    /// Walks the members of the archive at `path`, reading each wanted one (screened by its
    /// first bytes) as the stream reaches it.
    ///
    /// # Errors
    /// [`Error::Io`] when the archive cannot be opened or read past its start.
    pub(super) fn tar(&mut self, path: &Path) -> Result<()> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let f = File::open(path).map_err(io)?;
        let mut archive = ::tar::Archive::new(BufReader::with_capacity(1 << 20, f));
        let prefix = path_id(path);
        for entry in archive.entries().map_err(io)? {
            if self.stopped {
                break;
            }
            // A damaged archive stops this archive but not the run: later members cannot be
            // found reliably, and the error is reported as an item so the run records it.
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    if let Some(id) = self.wants(format!("{prefix}:")) {
                        self.emit_item(id, Content::Read(Err(ReadFailure::Io(e))));
                    }
                    break;
                }
            };
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let member = escape_id(&entry.path_bytes());
            let Some(id) = self.wants(format!("{prefix}:{member}")) else {
                continue; // the archive skips the unread member data
            };
            let len = entry.size();
            let content =
                Content::Read(read_screened(&mut entry, len, self.max, Some(self.screen)));
            self.emit_item(id, content);
        }
        Ok(())
    }
}
