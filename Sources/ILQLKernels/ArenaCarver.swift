/// Carves aligned views out of one allocation. The same carving code runs twice: once without
/// storage to count the floats needed, once over the real buffer, so sizes and views cannot
/// disagree.
public struct ArenaCarver {
    private let base: UnsafeMutablePointer<Float>?
    /// Floats carved so far (alignment padding included).
    public private(set) var count = 0
    private static let alignment = FloatBuffer.alignment / MemoryLayout<Float>.stride
    // Stands in for the storage while counting; never dereferenced.
    private static let countingBase = UnsafeMutablePointer<Float>(bitPattern: alignment * 4)!

    /// A carver that only counts.
    public init() { base = nil }
    /// A carver over real storage.
    public init(storage: UnsafeMutablePointer<Float>) { base = storage }

    /// Runs `carve` twice, counting then over a fresh allocation of exactly the floats it took:
    /// the storage and the views it returned from the second pass.
    public static func allocate<Views>(_ carve: (inout ArenaCarver) -> Views) -> (storage: FloatBuffer, views: Views) {
        var counter = ArenaCarver()
        _ = carve(&counter)
        let storage = FloatBuffer(count: counter.count)
        var carver = ArenaCarver(storage: storage.pointer)
        return (storage, carve(&carver))
    }

    /// The next `size` floats, starting on a cache line.
    public mutating func take(_ size: Int) -> UnsafeMutablePointer<Float> {
        let pointer = (base ?? Self.countingBase) + count
        count += (size + Self.alignment - 1) / Self.alignment * Self.alignment
        return pointer
    }
}
