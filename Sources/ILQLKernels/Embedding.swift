/// GPT-2's input: `out[b, t] = wte[token[b, t]] + wpe[t]`.
public enum Embedding {
    /// out is (batch, length, features); tokens is (batch, length); wte is (vocab, features);
    /// wpe is (positions ≥ length, features). Token ids must be in `0..<vocab` (the model checks
    /// them before the step, so this loop need not). `firstPosition` offsets the positions,
    /// for decoding one token at a time after a cached prefix.
    public static func forward(
        out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>,
        wte: UnsafePointer<Float>, wpe: UnsafePointer<Float>,
        batch: Int, length: Int, features: Int, firstPosition: Int = 0
    ) {
        for b in 0..<batch {
            for t in 0..<length {
                let row = b * length + t
                let o = out + row * features
                let tokenRow = wte + Int(tokens[row]) * features
                let positionRow = wpe + (firstPosition + t) * features
                for j in 0..<features { o[j] = tokenRow[j] + positionRow[j] }
            }
        }
    }

    /// Accumulates `dWte[token] += dOut` and `dWpe[t] += dOut` for every position.
    public static func backward(
        dWte: UnsafeMutablePointer<Float>, dWpe: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>, tokens: UnsafePointer<Int32>,
        batch: Int, length: Int, features: Int
    ) {
        for b in 0..<batch {
            for t in 0..<length {
                let row = b * length + t
                let d = dOut + row * features
                let tokenRow = dWte + Int(tokens[row]) * features
                let positionRow = dWpe + t * features
                for j in 0..<features {
                    tokenRow[j] += d[j]
                    positionRow[j] += d[j]
                }
            }
        }
    }
}
