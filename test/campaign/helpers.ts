// Shared fixtures of the campaign tests: the test-only mutant of the model
// mount and a campaign where it fails early.

import { PORTFOLIO, type CampaignOptions, type ScenarioShape } from "../../src/sim/campaign.js"
import { modelMount } from "../../src/sim/modelmount.js"

export const MOUNTS = { model: modelMount }

/** A small, contended shape under the rename-not-atomic mutant. */
export const MUTANT_SHAPE: ScenarioShape = { mount: { kind: "model", options: "mutant=rename-not-atomic" }, threads: 3, ops: 6, names: 2 }

/** Run 6 of this campaign (seed 346, random) fails lincheck under the mutant. */
export const MUTANT_CAMPAIGN: CampaignOptions = { shape: MUTANT_SHAPE, seed: 340, strategy: { kind: "portfolio", specs: PORTFOLIO }, mounts: MOUNTS, lockOrders: [] }
export const MUTANT_FAILING_RUN = 6

/** The same campaign's CLI flags. */
export const MUTANT_FLAGS = ["--no-swarm", "--mount", "model", "--mutant", "rename-not-atomic", "--threads", "3", "--ops", "6", "--names", "2", "--seed", "340"]
