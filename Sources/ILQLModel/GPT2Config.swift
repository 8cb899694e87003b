/// The shape of a GPT-2 model, with Hugging Face's field names at the JSON boundary.
public struct GPT2Config: Codable, Equatable, Hashable, Sendable {
    /// Number of transformer blocks.
    public var layerCount: Int
    /// Number of attention heads; must divide `width`.
    public var headCount: Int
    /// Width of the residual stream (`n_embd`).
    public var width: Int
    /// Longest sequence the position embedding covers (`n_positions`).
    public var maxPositions: Int
    /// Number of token ids (`vocab_size`).
    public var vocabularySize: Int
    /// ε of every LayerNorm (GPT-2: 1e-5).
    public var layerNormEpsilon: Float

    /// Creates a shape; call `validate()` before building a model from user input.
    public init(layerCount: Int, headCount: Int, width: Int, maxPositions: Int, vocabularySize: Int,
                layerNormEpsilon: Float = 1e-5) {
        self.layerCount = layerCount
        self.headCount = headCount
        self.width = width
        self.maxPositions = maxPositions
        self.vocabularySize = vocabularySize
        self.layerNormEpsilon = layerNormEpsilon
    }

    enum CodingKeys: String, CodingKey {
        case layerCount = "n_layer", headCount = "n_head", width = "n_embd"
        case maxPositions = "n_positions", vocabularySize = "vocab_size"
        case layerNormEpsilon = "layer_norm_epsilon"
    }

    /// Width of one attention head.
    public var headSize: Int { width / headCount }

    /// Throws a `ModelError.invalidConfig` naming the first field that makes no sense.
    public func validate() throws {
        func require(_ condition: Bool, _ key: String, _ message: String) throws {
            if !condition { throw ModelError.invalidConfig(key: key, message: message) }
        }
        try require(layerCount >= 1, "n_layer", "must be at least 1 (got \(layerCount))")
        try require(headCount >= 1, "n_head", "must be at least 1 (got \(headCount))")
        try require(width >= 1, "n_embd", "must be at least 1 (got \(width))")
        try require(width % headCount == 0, "n_embd", "\(width) is not divisible by n_head = \(headCount)")
        try require(maxPositions >= 1, "n_positions", "must be at least 1 (got \(maxPositions))")
        try require(vocabularySize >= 1, "vocab_size", "must be at least 1 (got \(vocabularySize))")
        try require(vocabularySize <= Int(Int32.max), "vocab_size", "must fit in Int32 (got \(vocabularySize))")
        try require(layerNormEpsilon > 0 && layerNormEpsilon.isFinite, "layer_norm_epsilon",
                    "must be a positive number (got \(layerNormEpsilon))")
    }

    /// Number of trainable parameters (the LM head is tied to the token embedding).
    public var parameterCount: Int {
        let c = width
        let perLayer = 2 * c + (c * 3 * c + 3 * c) + (c * c + c) + 2 * c + (c * 4 * c + 4 * c) + (4 * c * c + c)
        return vocabularySize * c + maxPositions * c + layerCount * perLayer + 2 * c
    }
}

/// Errors from building, loading or saving a model; each names what to fix.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// A config field out of range.
    case invalidConfig(key: String, message: String)
    /// A checkpoint that cannot be used, with the file and the reason.
    case badCheckpoint(path: String, message: String)

    public var description: String {
        switch self {
        case let .invalidConfig(key, message): return "invalid model config: \(key) \(message)"
        case let .badCheckpoint(path, message): return "\(path): \(message)"
        }
    }
}
