// The gofer's coverage marks: the rare paths of the port worth reaching,
// each logged by filesystem.mark where the path is taken. A campaign's
// summary names the marks none of its runs reached (src/sim/marks.ts).

export const GOFER_MARKS = {
  // Revalidation (revalidate.go, InteropModeShared).
  "gofer.revalidate.stale-dentry": "revalidation found a cached dentry whose file the server deleted or replaced, and invalidated it",
  "gofer.revalidate.stale-synthetic": "revalidation found a remote file in place of a synthetic one, and deleted the synthetic dentry",
  "gofer.revalidate.synthetic-kept": "revalidation found no remote file at a synthetic dentry's name, and kept it",
  "gofer.revalidate.dotdot-partial": "a path with '..' split revalidation in parts (metadata locks go parent to child only)",
  "gofer.revalidate.error": "the MultiGetAttr of a revalidation failed (a fault), failing the walk",
  // The dentry cache.
  "gofer.dcache.limit-reached": "caching a dentry took the LRU past dentry_cache_limit, so the least recently used one is evicted",
  "gofer.dcache.evict-dentry": "the LRU evicted a dentry while the mount was in use (not at its release): removed from its parent, destroyed",
  "gofer.dcache.evict-referenced": "the LRU's victim had gained a reference since it was cached: eviction skipped it",
  "gofer.dcache.evict-with-pages": "a dentry destroyed with pages still in its page cache (written back if dirty, then dropped)",
  "gofer.dcache.evict-dirty-pages": "a dentry destroyed with dirty pages, which it writes back first",
  "gofer.dcache.destroy-writeback-failed": "writing a destroyed dentry's dirty pages back failed (only a warning)",
  "gofer.dcache.dead-revived": "a dead dentry gained a reference while its destroyer waited for renameMu: destruction abandoned",
  "gofer.dcache.negative-hit": "a lookup answered ENOENT from a cached negative dentry, with no RPC",
  "gofer.dcache.negative-replaced": "a create replaced the negative dentry at its name",
  // Walks.
  "gofer.walk.symlink-chain": "a walk followed a symlink whose target began with another symlink",
  "gofer.walk.lookup-error": "a lookup's Twalk failed with an error other than ENOENT (ENOTDIR, EACCES, a fault)",
  "gofer.open.trailing-symlink": "an open followed a trailing symlink to the file it opened",
  // Directory operations.
  "gofer.create.eexist-uncached": "a create found no cached child and the server answered EEXIST (a file not looked up yet, or another user's)",
  "gofer.create.rpc-error": "the create's RPC failed with another error (a refusal such as EACCES, or a fault)",
  "gofer.mknod.synthetic-fallback": "the server refused mknod with EPERM, and a synthetic socket or FIFO stands in",
  "gofer.unlink.sticky-dir": "an unlink in a sticky directory resolved the child to check who may delete it",
  "gofer.unlink.open-file": "a regular file was unlinked while referenced (open, or in use by another op): deleted but open",
  "gofer.unlink.rpc-error": "the server refused an unlink the cache allowed, and the deletion was aborted",
  "gofer.rmdir.cached-notempty": "rmdir answered ENOTEMPTY from a cached child, with no RPC",
  "gofer.rename.over-cached-dir": "a rename replaced a cached directory",
  "gofer.rename.dir-new-parent": "a directory moved to another parent, its subtree with it",
  "gofer.rename.rpc-error": "the server refused a rename the cache allowed, and the rename was aborted",
  "gofer.readdir.cache-hit": "a directory's entries came from its dirents cache, with no Treaddir",
  "gofer.readdir.synthetic-merged": "a readdir listed synthetic children beside the server's entries",
  "gofer.readdir.error": "a Treaddir failed (a fault)",
  "gofer.readlink.cached-target": "a symlink's target came from the cache, with no Treadlink",
  // Handles.
  "gofer.handle.upgrade": "a dentry's shared handle was replaced by one open for more (read to read-write)",
  "gofer.handle.split-after-eacces": "opening a read-write handle was refused, so read and write handles stay separate",
  "gofer.handle.trunc-reopen": "an O_TRUNC open replaced an open handle (O_TRUNC always opens a new one)",
  // File I/O.
  "gofer.io.direct-read": "an O_DIRECT read: dirty cached pages written back, then read from the server",
  "gofer.io.direct-write": "an O_DIRECT write: cached pages written back and dropped, then written to the server",
  "gofer.io.direct-write-orphans-dirty": "an O_DIRECT write drops a page with dirty bytes outside the range it wrote back (finding direct-write-orphans-dirty)",
  "gofer.io.short-read-error": "a read failed part way (a fault): the bytes read are returned, the error dropped",
  "gofer.io.fill-error": "filling the page cache failed (a fault) before the page wanted was read",
  "gofer.io.short-write": "a write to the server wrote less than asked (a short write or error), ending the write",
  "gofer.io.append-size-refresh": "an O_APPEND write refreshed the file size from the server first",
  "gofer.io.sync-write": "an O_SYNC/O_DSYNC write wrote back and synced the bytes it wrote",
  "gofer.io.writethrough-error": "writethrough's flush after a cached write failed: the write reports 0 bytes",
  "gofer.io.seek-end-refresh": "SEEK_END refreshed the size from the server first",
  // The page cache.
  "gofer.pagecache.evict": "memory pressure (page_budget) made the evictor drop a file's cached pages",
  "gofer.pagecache.evict-dirty": "memory pressure made the evictor write dirty pages back before dropping them",
  "gofer.pagecache.evict-writeback-failed": "writing dirty pages back under memory pressure failed: the pages were dropped anyway",
  "gofer.truncate.dirty-pages": "a truncate shrank a file with dirty pages past its new end, dropped unwritten",
  "gofer.truncate.cached-pages": "a truncate shrank a file with cached pages past its new end",
  "gofer.setattr.rpc-error": "a Tsetattr failed (a fault or a refusal), leaving the cached metadata as it was",
  "gofer.sync.error-ignored": "a filesystem sync ignored an fsync error of a file not open for writing",
} as const

export type GoferMark = keyof typeof GOFER_MARKS
