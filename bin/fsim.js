#!/usr/bin/env node
// The CLI is compiled by `npm run build` (run by `npm ci` through `prepare`).
// The exit status is set here, not in main.js, so that importing main (the
// fuzz suite calls it in-process) has no side effect.
import { main } from "../dist/src/cli/main.js";
process.exitCode = await main(process.argv);
