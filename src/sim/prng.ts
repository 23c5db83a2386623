// The simulator's only source of randomness.
//
// Algorithm: xoshiro128** 1.1 (Blackman and Vigna, "Scrambled linear
// pseudorandom number generators", 2018), 128 bits of state, 32-bit output,
// period 2^128 - 1. Chosen because every step is 32-bit integer arithmetic
// (Math.imul, shifts), which V8 runs without allocation or BigInt, and because
// its output passes BigCrush. The 128-bit state is filled from the 32-bit
// seed by SplitMix32 (Steele, Lea and Flood's SplitMix, 32-bit variant with
// the MurmurHash3 finalizer), which never yields the forbidden all-zero state
// for four consecutive outputs.
//
// Subsystems never share a generator: each derives its own from the run seed
// and a label (`deriveSeed`), so adding a subsystem or drawing more numbers in
// one never shifts the numbers another one sees.

const TWO_32 = 4294967296
const TWO_NEG_32 = 1 / 4294967296

/** Mixes a 32-bit value (SplitMix32's output function). */
function mix32(z: number): number {
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/** A 32-bit seed for the subsystem `label` of a run seeded with `seed`. */
export function deriveSeed(seed: number, label: string): number {
  assertSeed(seed)
  // FNV-1a over the label's UTF-16 units, then mixed with the seed.
  let h = 0x811c9dc5
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return mix32((h ^ mix32(seed + 0x9e3779b9)) >>> 0)
}

export function assertSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed >= TWO_32) {
    throw new RangeError(`prng: a seed is an integer in [0, 2^32), got ${seed}`)
  }
}

export class Prng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor(seed: number) {
    assertSeed(seed)
    let x = seed
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0
      return mix32(x)
    }
    this.s0 = next()
    this.s1 = next()
    this.s2 = next()
    this.s3 = next()
  }

  /** A generator with the given raw state (for checking against the reference vectors). */
  static fromState(s0: number, s1: number, s2: number, s3: number): Prng {
    if ((s0 | s1 | s2 | s3) === 0) throw new RangeError("prng: the all-zero state is forbidden")
    const p = new Prng(0)
    p.s0 = s0 | 0
    p.s1 = s1 | 0
    p.s2 = s2 | 0
    p.s3 = s3 | 0
    return p
  }

  /** The next 32-bit unsigned output. */
  nextU32(): number {
    const s0 = this.s0
    const s1 = this.s1
    const s2 = this.s2
    const s3 = this.s3
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0
    const t = s1 << 9
    const n2 = s2 ^ s0
    const n3 = s3 ^ s1
    this.s1 = s1 ^ n2
    this.s0 = s0 ^ n3
    this.s2 = n2 ^ t
    this.s3 = rotl(n3, 11)
    return r
  }

  /**
   * A uniform integer in [0, n), without modulo bias (Lemire, "Fast random
   * integer generation in an interval", 2019, in float arithmetic, exact
   * because x * n < 2^53 for n < 2^21).
   */
  below(n: number): number {
    if (!(n >= 1 && n <= 0x200000 && Number.isInteger(n))) {
      throw new RangeError(`prng.below: n must be an integer in [1, 2^21], got ${n}`)
    }
    // m = x * n is exact in a double; its high 32 bits are the answer and
    // its low 32 bits decide rejection. Split with a multiply and a floor
    // rather than a floating-point modulo, which is slow.
    let m = this.nextU32() * n
    let high = Math.floor(m * TWO_NEG_32)
    let low = m - high * TWO_32
    if (low < n) {
      const threshold = (TWO_32 - n) % n
      while (low < threshold) {
        m = this.nextU32() * n
        high = Math.floor(m * TWO_NEG_32)
        low = m - high * TWO_32
      }
    }
    return high
  }

  /** An integer in [lo, hi], both inclusive. */
  between(lo: number, hi: number): number {
    if (hi < lo) throw new RangeError(`prng.between: empty range [${lo}, ${hi}]`)
    return lo + this.below(hi - lo + 1)
  }

  /** True with probability p (p in [0, 1]). */
  chance(p: number): boolean {
    return this.nextU32() < p * TWO_32
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("prng.pick: empty array")
    return items[this.below(items.length)] as T
  }

  /** A uniformly random permutation of `items` (Fisher–Yates), as a new array. */
  shuffle<T>(items: readonly T[]): T[] {
    const a = items.slice()
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.below(i + 1)
      const tmp = a[i] as T
      a[i] = a[j] as T
      a[j] = tmp
    }
    return a
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
