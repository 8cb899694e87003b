import ILQLKernels

/// How a parameter tensor starts out.
public enum ParameterInitialization: Sendable, Equatable {
    /// Normal(0, standardDeviation), as GPT-2 initialises its weights.
    case normal(standardDeviation: Double)
    /// Uniform(-bound, bound), as PyTorch's `nn.Linear` default (bound = 1/√fanIn).
    case uniform(bound: Double)
    /// Every element equal to `value` (LayerNorm gains 1, biases 0).
    case constant(Float)
    /// A copy of another tensor of the same shape, named by its checkpoint key (target heads
    /// start as exact copies of the online heads).
    case copy(of: String)
}

/// One row of the parameter table: everything the code needs to know about a tensor.
public struct ParameterSpec: Sendable, Equatable {
    /// A readable Swift-side path, used in test output and messages (`layers[0].qkv.weight`).
    public var name: String
    /// The key in `model.safetensors` (Hugging Face / trlx naming).
    public var checkpointKey: String
    /// Shape in the checkpoint's layout (Conv1D weights are `[in, out]`, Linear `[out, in]`).
    public var shape: [Int]
    /// Whether weight decay applies under the "matrices only" policy (true for 2-D weights).
    public var decays: Bool
    /// How `ParameterStore.initialize` fills it.
    public var initialization: ParameterInitialization
    /// Whether the optimizer updates it (target heads are changed only by Polyak averaging).
    public var trainable: Bool

    /// Creates a row.
    public init(name: String, checkpointKey: String, shape: [Int], decays: Bool,
                initialization: ParameterInitialization, trainable: Bool = true) {
        self.name = name
        self.checkpointKey = checkpointKey
        self.shape = shape
        self.decays = decays
        self.initialization = initialization
        self.trainable = trainable
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
}

/// The single description of a model's parameters, from which the flat buffer's size, every
/// tensor's offset, the checkpoint keys and the decay flags all follow. Adding a tensor is one
/// row; nothing else keeps a parallel list.
public struct ParameterTable: Sendable {
    /// The rows, in buffer order.
    public private(set) var specs: [ParameterSpec] = []
    /// Element offset of each row inside the flat buffer (same order as `specs`).
    public private(set) var offsets: [Int] = []
    /// Total number of floats in the flat buffer, padding included.
    public private(set) var totalCount: Int = 0
    private var indexByKey: [String: Int] = [:]

    /// Each tensor starts on a 64-byte boundary, so vector loops over one tensor start aligned.
    public static let alignmentInFloats = FloatBuffer.alignment / MemoryLayout<Float>.stride

    /// An empty table.
    public init() {}

    /// Appends a row; checkpoint keys must be unique.
    public mutating func append(_ spec: ParameterSpec) {
        precondition(indexByKey[spec.checkpointKey] == nil, "duplicate parameter \(spec.checkpointKey)")
        precondition(spec.shape.allSatisfy { $0 > 0 }, "parameter \(spec.checkpointKey) has an empty shape")
        indexByKey[spec.checkpointKey] = specs.count
        specs.append(spec)
        offsets.append(totalCount)
        let a = Self.alignmentInFloats
        totalCount += (spec.count + a - 1) / a * a
    }

    /// The row for a checkpoint key, if any.
    public func index(ofKey key: String) -> Int? { indexByKey[key] }

    /// Offset of the tensor with this checkpoint key; the key must exist (a programming error
    /// otherwise, since keys come from the same code that built the table).
    public func offset(ofKey key: String) -> Int {
        guard let index = indexByKey[key] else { preconditionFailure("no parameter named \(key)") }
        return offsets[index]
    }

    /// Floats up to the end of the last trainable row. Rows that are never trained (target heads)
    /// come after every trainable one, so gradients and optimizer moments need only this prefix
    /// of the layout: for GPT-2-sized vocabularies the target heads are hundreds of MB.
    public var trainablePrefixCount: Int {
        guard let last = specs.lastIndex(where: \.trainable) else { return 0 }
        precondition(specs[..<last].allSatisfy(\.trainable), "non-trainable rows must follow every trainable row")
        let a = Self.alignmentInFloats
        return offsets[last] + (specs[last].count + a - 1) / a * a
    }

    /// Number of floats that carry parameters (without alignment padding).
    public var parameterCount: Int { specs.reduce(0) { $0 + $1.count } }

    /// Fills `buffer` (of `totalCount` floats) according to each row's initialisation.
    /// Rows are drawn in table order from one generator, so a seed fixes every value.
    public func initialize(_ buffer: UnsafeMutablePointer<Float>, generator: inout SeededGenerator) {
        for (index, (spec, start)) in zip(specs, offsets).enumerated() {
            let tensor = buffer + start
            switch spec.initialization {
            case let .normal(standardDeviation):
                for i in 0..<spec.count { tensor[i] = Float(generator.nextNormal() * standardDeviation) }
            case let .uniform(bound):
                for i in 0..<spec.count { tensor[i] = Float((2 * generator.nextUnit() - 1) * bound) }
            case let .constant(value):
                tensor.update(repeating: value, count: spec.count)
            case let .copy(source):
                guard let sourceIndex = indexByKey[source], sourceIndex < index else {
                    preconditionFailure("\(spec.checkpointKey) copies \(source), which must come earlier in the table")
                }
                tensor.update(from: buffer + offsets[sourceIndex], count: spec.count)
            }
        }
    }
}
