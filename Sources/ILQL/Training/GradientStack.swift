import ILQLKernels

/// One worker's gradient buffers, combining its micro-batches by a pairwise tree.
///
/// Each micro-batch's gradient is computed into a zeroed buffer (a leaf); leaves are merged like
/// a binary counter ((g0 + g1) + (g2 + g3), …), so a run of 2^k micro-batches is reduced by the
/// same tree as the all-reduce uses across workers. That makes the whole batch's gradient the same
/// pairwise tree over micro-batches whatever the worker count. A run of n micro-batches needs at
/// most ⌊log2 n⌋ + 1 buffers, allocated on first use and kept.
///
/// The result comes with whether it is finite. A sum's finiteness is found in the loop that adds
/// it, so only a single leaf, which no addition wrote, takes a pass of its own to check.
final class GradientStack {
    let count: Int
    private var free: [FloatBuffer] = []
    /// Partial sums; `finite` is known for those an addition wrote, nil for a leaf.
    private var stack: [(level: Int, buffer: FloatBuffer, finite: Bool?)] = []

    /// Buffers of `count` floats.
    init(count: Int) { self.count = count }

    /// Buffers allocated so far.
    private(set) var allocatedBuffers = 0

    /// Forgets the previous step's partial sums.
    func reset() {
        free.append(contentsOf: stack.map(\.buffer))
        stack.removeAll(keepingCapacity: true)
    }

    /// A zeroed buffer to compute the next micro-batch's gradient into.
    func leaf() -> FloatBuffer {
        let buffer: FloatBuffer
        if let reused = free.popLast() {
            buffer = reused
        } else {
            buffer = FloatBuffer(count: count)
            allocatedBuffers += 1
        }
        buffer.zero()
        return buffer
    }

    /// Adds a computed leaf, merging equal levels pairwise.
    func push(_ leaf: FloatBuffer) {
        var node: (level: Int, buffer: FloatBuffer, finite: Bool?) = (0, leaf, nil)
        while let top = stack.last, top.level == node.level {
            stack.removeLast()
            let finite = add(node.buffer, into: top.buffer)
            free.append(node.buffer)
            node = (top.level + 1, top.buffer, finite)
        }
        stack.append(node)
    }

    /// The sum of every leaf pushed since `reset` (folding unequal levels from the top), and
    /// whether every element of it is finite.
    func result() -> (buffer: FloatBuffer, finite: Bool) {
        precondition(!stack.isEmpty, "no micro-batch was pushed")
        while stack.count > 1 {
            let top = stack.removeLast()
            let below = stack.count - 1
            stack[below].finite = add(top.buffer, into: stack[below].buffer)
            free.append(top.buffer)
        }
        let (_, buffer, finite) = stack[0]
        return (buffer, finite ?? Self.allFinite(buffer.pointer, count: count))
    }

    /// `destination += source`, returning whether every sum is finite: an inf or NaN in either
    /// operand, or a sum that overflows, makes it false.
    private func add(_ source: FloatBuffer, into destination: FloatBuffer) -> Bool {
        let s = source.pointer, d = destination.pointer
        var infiniteOrNaN: UInt32 = 0
        for i in 0..<count {
            let sum = d[i] + s[i]
            d[i] = sum
            infiniteOrNaN |= Self.isInfiniteOrNaN(sum) ? 1 : 0
        }
        return infiniteOrNaN == 0
    }

    /// Whether every one of `count` floats is finite.
    static func allFinite(_ values: UnsafePointer<Float>, count: Int) -> Bool {
        var infiniteOrNaN: UInt32 = 0
        for i in 0..<count { infiniteOrNaN |= isInfiniteOrNaN(values[i]) ? 1 : 0 }
        return infiniteOrNaN == 0
    }

    /// An all-ones exponent field: a test on the bits, which vectorises (a floating-point sum
    /// would not, and would hide nothing less).
    @inline(__always)
    private static func isInfiniteOrNaN(_ value: Float) -> Bool {
        value.bitPattern & 0x7F80_0000 == 0x7F80_0000
    }
}
