// gVisor's permission logic (as ported in src/impl/vfs/permissions.ts)
// against the reference model's, which is measured against Linux: they must
// agree on every access check, sticky-directory and hard-link rule.

import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { CheckDeleteSticky, GenericCheckPermissions, MayLink } from "../../src/impl/vfs/permissions.js"
import { S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG } from "../../src/impl/vfs/linux.js"
import { mayAccess, mayLink, stickyForbids } from "../../src/model/perm.js"
import type { Inode } from "../../src/model/state.js"
import type { Cred, NodeType } from "../../src/model/types.js"

const types: [NodeType, number][] = [
  ["file", S_IFREG],
  ["dir", S_IFDIR],
  ["symlink", S_IFLNK],
  ["fifo", S_IFIFO],
]
const ids = fc.constantFrom(0, 1000, 1001, 1002)
const arbCred: fc.Arbitrary<Cred> = fc.record({ uid: ids, gid: ids, groups: fc.subarray([1000, 1001, 1002]) })
const arbInode = fc.record({ t: fc.constantFrom(...types), mode: fc.integer({ min: 0, max: 0o7777 }), uid: ids, gid: ids })

function inode(i: { t: [NodeType, number]; mode: number; uid: number; gid: number }): Inode {
  return { ino: 2, type: i.t[0], mode: i.mode, uid: i.uid, gid: i.gid, nlink: 1, atime: 0, mtime: 0, ctime: 0, data: "", target: "", children: null, parent: 0, xattrs: null } as unknown as Inode
}

describe("vfs permissions agree with the reference model", () => {
  it("GenericCheckPermissions = generic_permission", () => {
    fc.assert(
      fc.property(arbCred, arbInode, fc.integer({ min: 0, max: 7 }), (c, i, ats) => {
        const gvisor = GenericCheckPermissions(c, ats, i.t[1] | i.mode, i.uid, i.gid) === null
        expect(gvisor).toBe(mayAccess(inode(i), c, ats))
      }),
      { numRuns: 20_000, seed: 1 },
    )
  })

  it("CheckDeleteSticky = the sticky-directory rule", () => {
    fc.assert(
      fc.property(arbCred, arbInode, arbInode, (c, dir, victim) => {
        const d = { ...dir, t: types[1]! }
        const gvisor = CheckDeleteSticky(c, S_IFDIR | d.mode, d.uid, victim.uid) !== null
        expect(gvisor).toBe(stickyForbids(inode(d), inode(victim), c))
      }),
      { numRuns: 20_000, seed: 2 },
    )
  })

  // gVisor's MayLink skips Linux's "executable setgid files should not get
  // pinned" rule ("we don't support S_IXGRP anyway", vfs/permissions.go):
  // a documented divergence of the port, kept as gVisor has it.
  const setgidExec = (mode: number): boolean => (mode & 0o2010) === 0o2010

  it("MayLink = may_linkat with protected_hardlinks, but for setgid group-executable files", () => {
    fc.assert(
      fc.property(arbCred, arbInode, (c, i) => {
        fc.pre(!setgidExec(i.mode))
        const gvisor = MayLink(c, i.t[1] | i.mode, i.uid, i.gid) === null
        expect(gvisor).toBe(mayLink(inode(i), c))
      }),
      { numRuns: 20_000, seed: 3 },
    )
  })

  it("MayLink lets a non-owner link a setgid group-executable file Linux protects (gVisor's divergence)", () => {
    const c: Cred = { uid: 1000, gid: 0, groups: [] }
    const i = { t: types[0]!, mode: 0o2770, uid: 0, gid: 0 }
    expect(mayLink(inode(i), c)).toBe(false)
    expect(MayLink(c, S_IFREG | i.mode, i.uid, i.gid)).toBeNull()
  })
})
