import ILQLKernels

/// One worker's gradient buffers, combining its micro-batches by a pairwise tree.
///
/// Each micro-batch's gradient is computed into a zeroed buffer (a leaf); leaves are merged like
/// a binary counter ((g0 + g1) + (g2 + g3), …), so a run of 2^k micro-batches is reduced by the
/// same tree as the all-reduce uses across workers. That makes the whole batch's gradient the same
/// pairwise tree over micro-batches whatever the worker count. A run of n micro-batches needs at
/// most ⌊log2 n⌋ + 1 buffers, allocated on first use and kept.
final class GradientStack {
    let count: Int
    private var free: [FloatBuffer] = []
    private var stack: [(level: Int, buffer: FloatBuffer)] = []

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
        var node = (level: 0, buffer: leaf)
        while let top = stack.last, top.level == node.level {
            stack.removeLast()
            add(node.buffer, into: top.buffer)
            free.append(node.buffer)
            node = (top.level + 1, top.buffer)
        }
        stack.append(node)
    }

    /// The sum of every leaf pushed since `reset` (folding unequal levels from the top).
    func result() -> FloatBuffer {
        precondition(!stack.isEmpty, "no micro-batch was pushed")
        while stack.count > 1 {
            let top = stack.removeLast()
            add(top.buffer, into: stack[stack.count - 1].buffer)
            free.append(top.buffer)
        }
        return stack[0].buffer
    }

    private func add(_ source: FloatBuffer, into destination: FloatBuffer) {
        let s = source.pointer, d = destination.pointer
        for i in 0..<count { d[i] += s[i] }
    }
}
