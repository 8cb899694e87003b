import ILQLKernels
import ILQLModel

/// ILQL's heads in the parameter table, under trlx's checkpoint names: each head is
/// `Linear(d, 2d) → ReLU → Linear(2d, out)` (`nn.Sequential` indices 0 and 2), stored as
/// `nn.Linear` stores weights, `[out, in]`.
public enum ILQLHeadsLayout {
    /// Key prefix of the value head.
    public static let valuePrefix = "ilql_heads.v_head."
    /// Key prefix of online Q head k.
    public static func qPrefix(_ k: Int) -> String { "ilql_heads.q_heads.\(k)." }
    /// Key prefix of target Q head k.
    public static func targetPrefix(_ k: Int) -> String { "ilql_heads.target_q_heads.\(k)." }

    /// Appends `v_head`, `q_heads[k]` and `target_q_heads[k]` for k < `qHeadCount`.
    ///
    /// Weights and biases start from U(−1/√fan_in, 1/√fan_in), PyTorch's `nn.Linear` default;
    /// target heads start as exact copies of the online heads and are not trained (only Polyak
    /// averaging changes them).
    public static func append(to table: inout ParameterTable, width d: Int, vocabularySize: Int, qHeadCount: Int) {
        func head(_ prefix: String, name: String, out: Int, copying source: String?, trainable: Bool) {
            let rows: [(String, [Int], Double)] = [
                ("0.weight", [2 * d, d], 1 / Double(d).squareRoot()),
                ("0.bias", [2 * d], 1 / Double(d).squareRoot()),
                ("2.weight", [out, 2 * d], 1 / Double(2 * d).squareRoot()),
                ("2.bias", [out], 1 / Double(2 * d).squareRoot()),
            ]
            for (suffix, shape, bound) in rows {
                table.append(ParameterSpec(
                    name: "\(name).\(suffix)", checkpointKey: prefix + suffix, shape: shape, decays: shape.count == 2,
                    initialization: source.map { .copy(of: $0 + suffix) } ?? .uniform(bound: bound),
                    trainable: trainable))
            }
        }
        head(valuePrefix, name: "valueHead", out: 1, copying: nil, trainable: true)
        for k in 0..<qHeadCount {
            head(qPrefix(k), name: "qHeads[\(k)]", out: vocabularySize, copying: nil, trainable: true)
        }
        for k in 0..<qHeadCount {
            head(targetPrefix(k), name: "targetQHeads[\(k)]", out: vocabularySize, copying: qPrefix(k), trainable: false)
        }
    }
}

/// Pointers to one two-layer head inside a flat buffer.
public struct MLPHeadTensors {
    /// (2d, d), (2d), (out, 2d), (out).
    public var hiddenWeight, hiddenBias, outputWeight, outputBias: UnsafeMutablePointer<Float>
    /// Number of outputs (1 for V, vocabulary size for Q).
    public var outFeatures: Int

    /// Views of the head at `prefix` in `table`.
    public init(base: UnsafeMutablePointer<Float>, table: ParameterTable, prefix: String, outFeatures: Int) {
        hiddenWeight = base + table.offset(ofKey: prefix + "0.weight")
        hiddenBias = base + table.offset(ofKey: prefix + "0.bias")
        outputWeight = base + table.offset(ofKey: prefix + "2.weight")
        outputBias = base + table.offset(ofKey: prefix + "2.bias")
        self.outFeatures = outFeatures
    }

    /// hidden (rows, 2d) = ReLU(input · W1ᵀ + b1) for input (rows, d).
    func hiddenForward(hidden: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, width d: Int) {
        Matmul.forward(out: hidden, input: input, weight: hiddenWeight, bias: hiddenBias,
                       rows: rows, inFeatures: d, outFeatures: 2 * d, layout: .outputMajor)
        ReLU.forward(out: hidden, x: hidden, count: rows * 2 * d)
    }

    /// out (rows, outFeatures) = hidden · W2ᵀ + b2.
    func outputForward(out: UnsafeMutablePointer<Float>, hidden: UnsafePointer<Float>, rows: Int, width d: Int) {
        Matmul.forward(out: out, input: hidden, weight: outputWeight, bias: outputBias,
                       rows: rows, inFeatures: 2 * d, outFeatures: outFeatures, layout: .outputMajor)
    }

    /// One output column per row: `out[r] = hidden[r] · W2[column[r]] + b2[column[r]]` (the target
    /// heads are only ever read at the action taken, so the other V − 1 columns are not computed).
    func selectedOutputs(out: UnsafeMutablePointer<Float>, hidden: UnsafePointer<Float>, columns: UnsafePointer<Int32>,
                         rows: Int, width d: Int) {
        for r in 0..<rows {
            let column = Int(columns[r])
            // In SIMD chunks: a plain float dot product stays one serial chain of 2d additions.
            let sum = ShortVector.dot(hidden + r * 2 * d, outputWeight + column * 2 * d, count: 2 * d)
            out[r] = sum + outputBias[column]
        }
    }

    /// Accumulates the head's parameter gradients into `gradients` (same head in the gradient
    /// buffer) and the input gradient into `dInput`, from `dOut` (rows, outFeatures).
    /// `dHiddenScratch` holds rows·2d floats.
    func backward(gradients g: MLPHeadTensors, dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                  input: UnsafePointer<Float>, hidden: UnsafePointer<Float>, dHiddenScratch: UnsafeMutablePointer<Float>,
                  rows: Int, width d: Int) {
        dHiddenScratch.update(repeating: 0, count: rows * 2 * d)
        Matmul.backward(dInput: dHiddenScratch, dWeight: g.outputWeight, dBias: g.outputBias, dOut: dOut,
                        input: hidden, weight: outputWeight, rows: rows, inFeatures: 2 * d, outFeatures: outFeatures,
                        layout: .outputMajor)
        // ReLU backward in place: the gradient survives where the activation was positive.
        for i in 0..<(rows * 2 * d) where hidden[i] <= 0 { dHiddenScratch[i] = 0 }
        Matmul.backward(dInput: dInput, dWeight: g.hiddenWeight, dBias: g.hiddenBias, dOut: dHiddenScratch,
                        input: input, weight: hiddenWeight, rows: rows, inFeatures: d, outFeatures: 2 * d,
                        layout: .outputMajor)
    }
}

/// Pointers to every ILQL head inside a flat buffer.
public struct ILQLHeadTensors {
    public var value: MLPHeadTensors
    public var q: [MLPHeadTensors]
    public var targetQ: [MLPHeadTensors]

    /// Views of the heads in `table`, for `qHeadCount` Q heads of `vocabularySize` outputs.
    public init(base: UnsafeMutablePointer<Float>, table: ParameterTable, vocabularySize: Int, qHeadCount: Int) {
        value = MLPHeadTensors(base: base, table: table, prefix: ILQLHeadsLayout.valuePrefix, outFeatures: 1)
        q = (0..<qHeadCount).map {
            MLPHeadTensors(base: base, table: table, prefix: ILQLHeadsLayout.qPrefix($0), outFeatures: vocabularySize)
        }
        targetQ = (0..<qHeadCount).map {
            MLPHeadTensors(base: base, table: table, prefix: ILQLHeadsLayout.targetPrefix($0), outFeatures: vocabularySize)
        }
    }
}
