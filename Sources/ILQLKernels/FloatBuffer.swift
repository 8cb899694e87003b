#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One contiguous, 64-byte-aligned, zero-initialised allocation of `Float`s.
///
/// Parameters, gradients, optimizer moments and activation arenas are each one `FloatBuffer`;
/// named tensors are views at offsets inside it. Hot loops take `pointer` once, outside the loop,
/// so no reference counting happens per element.
public final class FloatBuffer: @unchecked Sendable {
    /// Number of `Float` elements.
    public let count: Int
    /// Start of the storage; valid for the lifetime of the buffer.
    public let pointer: UnsafeMutablePointer<Float>

    /// The alignment of every buffer, one cache line, so that chunked loops over several
    /// buffers (all-reduce, AdamW) start every chunk on a line boundary.
    public static let alignment = 64

    /// Allocates `count` zeroed floats (at least one, so the pointer is always valid).
    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer count must not be negative")
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let bytes = Swift.max(count, 1) * MemoryLayout<Float>.stride
        let status = posix_memalign(&raw, FloatBuffer.alignment, bytes)
        guard status == 0, let raw else {
            fatalError("FloatBuffer: cannot allocate \(bytes) bytes (posix_memalign returned \(status))")
        }
        memset(raw, 0, bytes)
        pointer = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
    }

    /// Allocates a buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { free(pointer) }

    /// The contents as an array (for tests, checkpoints and debugging, never in a step).
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }

    /// The buffer's storage as a buffer pointer.
    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }
}
