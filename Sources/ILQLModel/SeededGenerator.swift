/// A small, fast, seedable random number generator (xoshiro256**), so initialisation, data order
/// and sampling are reproducible across runs and platforms. Its whole state is four words, which
/// a checkpoint stores to resume a run bit-identically.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable, Codable {
    /// The generator's state; restore it to continue a sequence exactly.
    public var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// Seeds the state through SplitMix64, as the xoshiro authors recommend, so nearby seeds
    /// give unrelated streams.
    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A standard normal sample (Box–Muller, in Double).
    public mutating func nextNormal() -> Double {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let u1 = 1 - nextUnit()
        let u2 = nextUnit()
        return (-2 * logarithm(u1)).squareRoot() * cosine(2 * Double.pi * u2)
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

#if canImport(Glibc)
import Glibc
private func logarithm(_ x: Double) -> Double { Glibc.log(x) }
private func cosine(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Darwin
private func logarithm(_ x: Double) -> Double { Darwin.log(x) }
private func cosine(_ x: Double) -> Double { Darwin.cos(x) }
#endif
