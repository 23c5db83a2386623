// Names on the wire. A 9P string is UTF-8 text, and the server holds every
// name as the bytes a client sent (one code unit per byte, as file data),
// which keeps any byte sequence exact and makes NAME_MAX and directory order
// count bytes, as Linux does. A scenario's names are text (JSON strings), so
// a tree served over TCP is first rewritten with each name, symlink target,
// hard link path and xattr name as its UTF-8 bytes: "é" reaches a client as
// C3 A9, not as the lone byte E9 a Latin-1 reading would send.
//
// Inside a simulation names never become bytes (the port and the server
// share the scenario's strings), so this is applied only at the wire.

import { Buffer } from "node:buffer"
import type { Tree, TreeNode } from "../../model/types.js"

/** A lone surrogate, which has no UTF-8 form. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

export class NotUnicode extends Error {
  constructor(readonly text: string) {
    super(`${JSON.stringify(text)} is not Unicode text (a lone surrogate has no UTF-8 form)`)
  }
}

/** `text` as its UTF-8 bytes, one code unit per byte; throws NotUnicode for a lone surrogate. */
export function utf8Bytes(text: string): string {
  // ASCII is its own UTF-8: the common case costs a test, not a copy.
  if (!/[^\x00-\x7f]/.test(text)) return text
  if (LONE_SURROGATE.test(text)) throw new NotUnicode(text)
  return Buffer.from(text, "utf8").toString("latin1")
}

/** Bytes (one code unit each) read as UTF-8, for people and tests; invalid sequences become U+FFFD. */
export function utf8Text(bytes: string): string {
  return Buffer.from(bytes, "latin1").toString("utf8")
}

/**
 * The tree with every name and path in it as UTF-8 bytes (data and xattr
 * values are bytes already). Iterative: a tree's depth is the input's to
 * choose, the stack's is not.
 */
export function utf8Tree(tree: Tree): Tree {
  const out: Record<string, TreeNode> = {}
  const work: [Tree, Record<string, TreeNode>][] = [[tree, out]]
  for (let item = work.pop(); item !== undefined; item = work.pop()) {
    const [from, to] = item
    for (const [name, node] of Object.entries(from)) {
      let copy: TreeNode
      if ("link" in node) copy = { ...node, link: utf8Bytes(node.link) }
      else if (node.type === "symlink") copy = { ...node, target: utf8Bytes(node.target) }
      else copy = { ...node }
      if ("xattrs" in copy && copy.xattrs !== undefined) {
        copy = { ...copy, xattrs: Object.fromEntries(Object.entries(copy.xattrs).map(([k, v]) => [utf8Bytes(k), v])) }
      }
      if (copy.type === "dir" && copy.children !== undefined) {
        const children: Record<string, TreeNode> = {}
        work.push([copy.children, children])
        copy = { ...copy, children }
      }
      to[utf8Bytes(name)] = copy
    }
  }
  return out
}
