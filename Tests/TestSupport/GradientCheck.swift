// GradientCheck.swift: seeded random inputs and finite-difference gradients of Double references.
//
// The oracle for every backward pass is independent of the kernel under test: the scalar
// L = Σ_i w_i · out_i (w fixed and seeded) is differentiated numerically through a Double-precision
// reference forward, then compared with the Float backward called with dOut = w.

import Foundation

/// A small deterministic generator (SplitMix64), so every test sees the same numbers on every
/// platform and run; `SystemRandomNumberGenerator` would make failures irreproducible.
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` Floats uniform in `range`, with full 24-bit significands.
    ///
    /// `Float.random(in:)` draws from a fixed grid (multiples of 2⁻²³ of the range), on which the
    /// sum of two draws is exact: additions would never round and their rounding would go
    /// untested. Drawing a Double and rounding it gives every binade its full precision.
    public mutating func floats(_ count: Int, in range: ClosedRange<Float> = -1 ... 1) -> [Float] {
        (0 ..< count).map { _ in uniform(range) }
    }

    private mutating func uniform(_ range: ClosedRange<Float>) -> Float {
        Float(Double.random(in: Double(range.lowerBound) ... Double(range.upperBound), using: &self))
    }

    /// `count` Floats with a random sign and a magnitude uniform in `magnitude`: never zero (when
    /// the lower bound is positive), which matters for kinks like ReLU's and for prefills.
    public mutating func nonzeroFloats(_ count: Int, magnitude: ClosedRange<Float>) -> [Float] {
        (0 ..< count).map { _ in
            let m = uniform(magnitude)
            return Bool.random(using: &self) ? m : -m
        }
    }

    /// `count` integers uniform in `range`, as the Int32 token ids the kernels take.
    public mutating func tokens(_ count: Int, in range: Range<Int32>) -> [Int32] {
        (0 ..< count).map { _ in Int32.random(in: range, using: &self) }
    }
}

/// Central finite differences of a Double function, the oracle for backward passes.
public enum FiniteDifference {
    /// The default step factor: h = 1e-4 · max(1, |x|). The five-point stencil below has a
    /// truncation error of O(h⁴) (≈ 1e-16 for functions varying on a scale of 1) and a rounding
    /// error of ~1.5·ε_double·|out|/h ≈ 2e-12 per affected output. The best step for a
    /// fourth-order stencil is near ε^(1/5) ≈ 7e-4 (for the two-point one it would be
    /// ε^(1/3) ≈ 5e-6); 1e-4 keeps both errors near 1e-12, far below Float's 6e-8. Functions that
    /// vary on a scale much smaller than max(1, |x|) (rows offset by 1e3) pass a smaller factor.
    public static let defaultRelativeStep = 1e-4

    /// `Σ_i weights[i] · values[i]` in Double.
    public static func weightedSum(_ values: [Double], _ weights: [Double]) -> Double {
        precondition(values.count == weights.count, "weights must match the output count")
        var sum = 0.0
        for i in values.indices { sum += weights[i] * values[i] }
        return sum
    }

    /// The gradient of `L(inputs) = Σ_i weights[i] · forward(inputs)[i]` with respect to every
    /// element of every tensor in `inputs` (tensors listed in `skipping` get an empty array).
    ///
    /// Uses the five-point stencil `(−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h)) / 12h`, whose error is
    /// O(h⁴) instead of the O(h²) of the two-point one. The stencil is applied to each output and
    /// only then weighted and summed: outputs that do not depend on the perturbed element cancel
    /// exactly, so the rounding error is that of the affected outputs, not of the whole sum L.
    public static func gradients(
        weights: [Double], at inputs: [[Double]], skipping: Set<Int> = [],
        relativeStep: Double = defaultRelativeStep, forward: ([[Double]]) -> [Double]
    ) -> [[Double]] {
        var point = inputs
        var result: [[Double]] = []
        for tensor in inputs.indices {
            if skipping.contains(tensor) {
                result.append([])
                continue
            }
            var gradient = [Double](repeating: 0, count: inputs[tensor].count)
            for i in inputs[tensor].indices {
                let x = inputs[tensor][i]
                let h = relativeStep * max(1, abs(x))
                func outputs(at offset: Double) -> [Double] {
                    point[tensor][i] = x + offset
                    return forward(point)
                }
                let plus2 = outputs(at: 2 * h), plus1 = outputs(at: h), minus1 = outputs(at: -h), minus2 = outputs(at: -2 * h)
                point[tensor][i] = x
                precondition(plus1.count == weights.count, "weights must match the output count")
                var sum = 0.0
                for o in weights.indices {
                    let difference = (minus2[o] - plus2[o]) + 8 * (plus1[o] - minus1[o])
                    if difference != 0 { sum += weights[o] * difference }
                }
                gradient[i] = sum / (12 * h)
            }
            result.append(gradient)
        }
        return result
    }

    /// For a kernel that is linear in each input separately and built from sums of products
    /// (matmul, bias, residual, embedding), the gradient of Σ|w|·f(|inputs|) is, element by
    /// element, the sum of the absolute values of the terms that make up the gradient: the scale
    /// its rounding error is proportional to. Used to build error bounds for the backward passes.
    public static func termMagnitudes(
        weights: [Double], at inputs: [[Double]], skipping: Set<Int> = [], forward: ([[Double]]) -> [Double]
    ) -> [[Double]] {
        gradients(weights: weights.map(abs), at: inputs.map { $0.map(abs) }, skipping: skipping, forward: forward)
    }
}

/// Helpers for checking that a backward pass accumulates into its gradient buffers.
public enum GradientCheck {
    /// Nonzero random values to pre-fill a gradient buffer with before calling a backward pass.
    ///
    /// Their magnitude is between 0.1 and 0.5 of the largest entry of `gradient` (or of 1 when the
    /// gradient is 0): large enough that a backward pass that overwrites instead of adding is
    /// caught by a wide margin, small enough that the rounding of `prefill + gradient` in Float
    /// does not hide errors in the gradient itself.
    public static func prefill(like gradient: [Double], using random: inout SeededRandom) -> [Float] {
        let scale = gradient.reduce(0.0) { max($0, abs($1)) }
        let magnitude = Float(scale > 0 ? scale : 1)
        return random.nonzeroFloats(gradient.count, magnitude: 0.1 * magnitude ... 0.5 * magnitude)
    }

    /// What an accumulating backward pass must leave in a buffer pre-filled with `prefill`.
    public static func accumulated(prefill: [Float], gradient: [Double]) -> [Double] {
        precondition(prefill.count == gradient.count, "prefill and gradient differ in size")
        return zip(prefill, gradient).map { Double($0) + $1 }
    }

    /// The forward-error bound of `terms` Float values (each possibly a rounded product) summed
    /// onto the prefill in any order: `γ_(terms+1) · (|prefill| + Σ|terms|)` elementwise, with
    /// γ_n = n·u/(1 − n·u) (the +1 covers the rounding of each product), plus `oracle` times the
    /// tensor's scale for the finite-difference oracle's own error (~1e-11 of it).
    public static func accumulationBound(
        terms: Int, prefill: [Float], magnitudes: [Double], expected: [Double], oracle: Double = 1e-9
    ) -> [Double] {
        let n = Double(terms + 1) * floatUnitRoundoff
        let gamma = n / (1 - n)
        let scale = expected.reduce(0.0) { max($0, abs($1)) }
        return zip(prefill, magnitudes).map { gamma * (abs(Double($0)) + $1) + oracle * scale }
    }
}
