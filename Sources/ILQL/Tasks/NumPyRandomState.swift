// numpy's legacy `numpy.random.RandomState`, bit-exact, for the few calls trlx's randomwalks
// generator makes. Reproducing trlx's data set means reproducing its random draws one for one:
// which algorithm each call uses, and how many 32-bit outputs it consumes.

/// numpy's legacy `RandomState(seed)`: an MT19937 stream and the legacy sampling algorithms on top.
///
/// Only what trlx's randomwalks generator uses is here: integer seeding, `rand()`
/// (`random_sample`), `randint(high)` and `choice(array)` without `size` or `p`. Each gives
/// exactly numpy's values for the same seed and call sequence.
public struct NumPyRandomState: Sendable {
    /// The Mersenne Twister state words, regenerated in one pass every 624 outputs.
    private var state: [UInt32]
    /// The next word of `state` to temper and return; 624 means "regenerate first".
    private var position: Int

    private static let stateLength = 624
    private static let shift = 397

    /// `numpy.random.RandomState(seed)` for an integer seed.
    ///
    /// numpy seeds an integer with `mt19937_seed`, the reference `init_genrand` recurrence
    /// (Knuth's multiplier 1812433253), not `init_by_array`; that one is used only for array seeds.
    public init(seed: UInt32) {
        var words = [UInt32](repeating: 0, count: Self.stateLength)
        words[0] = seed
        for index in 1..<Self.stateLength {
            let previous = words[index - 1]
            words[index] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(index)
        }
        state = words
        position = Self.stateLength
    }

    /// The next raw 32-bit output of MT19937 (tempered).
    public mutating func nextUInt32() -> UInt32 {
        if position >= Self.stateLength { regenerate() }
        var y = state[position]
        position += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// The next 624 untempered words, all at once, as numpy's `mt19937_gen` does.
    private mutating func regenerate() {
        let count = Self.stateLength
        for index in 0..<count {
            let y = (state[index] & 0x8000_0000) | (state[(index + 1) % count] & 0x7FFF_FFFF)
            let twist = (y >> 1) ^ ((y & 1) == 0 ? 0 : 0x9908_B0DF)
            state[index] = state[(index + Self.shift) % count] ^ twist
        }
        position = 0
    }

    /// `rng.rand()` / `rng.random_sample()`: a double in [0, 1) with 53 random bits.
    ///
    /// Two outputs per double: the top 27 bits of the first and the top 26 of the second, as
    /// numpy's `mt19937_next_double`.
    public mutating func rand() -> Double {
        let high = Double(nextUInt32() >> 5)
        let low = Double(nextUInt32() >> 6)
        return (high * 67_108_864.0 + low) / 9_007_199_254_740_992.0
    }

    /// `rng.rand(count)`, or `rng.rand(rows, columns)` flattened in row-major order: `count`
    /// successive ``rand()`` values.
    public mutating func rand(_ count: Int) -> [Double] {
        precondition(count >= 0, "rand needs a count ≥ 0; got \(count)")
        return (0..<count).map { _ in rand() }
    }

    /// `rng.randint(high)`: an integer in `0 ..< high`, with legacy numpy's masked rejection.
    ///
    /// numpy draws 32-bit outputs, masks each to the smallest all-ones bit pattern covering
    /// `high - 1`, and rejects values above `high - 1`. Two cases draw differently and matter for
    /// staying in step with numpy: `high == 1` consumes no output at all, and `high == 2^32` takes
    /// one output unmasked.
    /// - Precondition: `1 <= high <= 2^32` (larger bounds use numpy's 64-bit path, not needed here).
    public mutating func randint(_ high: Int) -> Int {
        precondition(high >= 1 && high <= 1 << 32,
                     "randint(high) is implemented for 1 ≤ high ≤ 2^32; got \(high)")
        let range = UInt32(high - 1)  // numpy works on the closed interval [0, high - 1]
        if range == 0 { return 0 }
        if range == UInt32.max { return Int(nextUInt32()) }
        var mask = range
        mask |= mask >> 1
        mask |= mask >> 2
        mask |= mask >> 4
        mask |= mask >> 8
        mask |= mask >> 16
        while true {
            let value = nextUInt32() & mask
            if value <= range { return Int(value) }
        }
    }

    /// `rng.choice(array)` for a 1-D array, with replacement and no `p`: legacy numpy draws
    /// `randint(0, len(array))` and indexes, so a one-element array consumes no output.
    /// - Precondition: `array` is not empty (numpy raises `ValueError`).
    public mutating func choice<Element>(_ array: [Element]) -> Element {
        precondition(!array.isEmpty, "choice needs a non-empty array (numpy: 'a cannot be empty')")
        return array[randint(array.count)]
    }
}
