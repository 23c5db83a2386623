// The filesystems `fsim` can mount, and their declared lock orders.

import { modelMount } from "../sim/modelmount.js"
import type { CliEnv } from "./env.js"

export function defaultEnv(): CliEnv {
  return {
    mounts: { model: modelMount },
    lockOrders: [],
  }
}
