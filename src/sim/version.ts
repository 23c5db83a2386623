// fsim's version, written into every trace header. Kept equal to
// package.json's "version" (a test checks it).
export const FSIM_VERSION = "0.1.0"
