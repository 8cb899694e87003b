import ILQLKernels

/// One sample turned into ILQL's training element (ILQL.md §1), before padding.
public struct ILQLElement: Equatable, Sendable {
    /// (T) the sample's tokens: every phrase, concatenated.
    public var inputIDs: [Int32]
    /// (A) position of the state that predicts each action (an output token): its index − 1.
    public var actionsIxs: [Int32]
    /// (A+1) `actionsIxs` followed by the last position T − 1.
    public var statesIxs: [Int32]
    /// (A+1) 1 for every state but the last: "not done", it multiplies the next state's value.
    public var dones: [Float]
    /// (A) zero except the last action, which carries the sample's standardised reward.
    public var rewards: [Float]

    /// Number of actions A.
    public var actionCount: Int { actionsIxs.count }

    /// N for a batch of `elements`: their action count, at least 1 (trlx's `n_nonterminal`,
    /// what every loss term is divided by). Equal to `ILQLBatch(elements).normalizer`, without
    /// building the batch.
    public static func normalizer(of elements: some Sequence<ILQLElement>) -> Int {
        max(1, elements.reduce(0) { $0 + $1.actionCount })
    }
}

/// Builds ILQL elements from tokenised phrases exactly as trlx's `tokenize_dialogue` and
/// `make_experience` do.
public enum ILQLElementBuilder {
    /// The ε trlx adds to the reward std: `torch.finfo(torch.float64).eps`.
    public static let rewardEpsilon = 2.220446049250313e-16

    /// Standardises the rewards of the whole dataset once: `(r − mean) / (std + ε)` with the
    /// unbiased std. A single sample (std undefined) is only centred, as trlx does when its std
    /// is NaN.
    public static func standardize(_ rewards: [Double]) -> [Double] {
        guard !rewards.isEmpty else { return [] }
        let mean = rewards.reduce(0, +) / Double(rewards.count)
        let centred = rewards.map { $0 - mean }
        guard rewards.count > 1 else { return centred }
        let variance = centred.reduce(0) { $0 + $1 * $1 } / Double(rewards.count - 1)
        return centred.map { $0 / (variance.squareRoot() + rewardEpsilon) }
    }

    /// Tokenised phrases `[prompt, output, prompt, output, …]` → the tokens trlx trains on.
    ///
    /// EOS is appended to the last phrase unless it already ends with it; phrases are cut so the
    /// total is at most `maxLength` (right truncation: the start is kept, so a truncated sample
    /// loses its EOS and is still terminal); empty phrases are dropped; if the first remaining
    /// phrase is an output, a BOS prompt is put before it (shortening the end by one token when
    /// the sample is already `maxLength` long).
    /// - Returns: the phrases with a flag saying which are outputs.
    public static func truncatedPhrases(
        _ phrases: [[Int32]], eos: Int32, bos: Int32, maxLength: Int
    ) -> [(isOutput: Bool, tokens: [Int32])] {
        precondition(!phrases.isEmpty && phrases.count % 2 == 0, "phrases alternate prompt and output")
        precondition(maxLength >= 2, "a sample needs room for a prompt and an action")
        var tokenized = phrases.enumerated().map { (isOutput: $0.offset % 2 == 1, tokens: $0.element) }
        if tokenized[tokenized.count - 1].tokens.last != eos { tokenized[tokenized.count - 1].tokens.append(eos) }
        var used = 0
        for i in tokenized.indices {
            let keep = max(0, min(tokenized[i].tokens.count, maxLength - used))
            tokenized[i].tokens = Array(tokenized[i].tokens.prefix(keep))
            used += keep
        }
        var result = tokenized.filter { !$0.tokens.isEmpty }
        if result.first?.isOutput ?? true {
            if used == maxLength, !result.isEmpty { result[result.count - 1].tokens.removeLast() }
            result = result.filter { !$0.tokens.isEmpty }
            result.insert((isOutput: false, tokens: [bos]), at: 0)
        }
        return result
    }

    /// The element of one sample whose reward is already standardised.
    ///
    /// The first position cannot be an action (no state precedes it); a sample without any
    /// output token after truncation has no actions and is rejected by the caller.
    public static func element(
        phrases: [(isOutput: Bool, tokens: [Int32])], standardizedReward: Double
    ) -> ILQLElement {
        var inputIDs: [Int32] = []
        var actionsIxs: [Int32] = []
        for phrase in phrases {
            if phrase.isOutput {
                for j in 0..<phrase.tokens.count { actionsIxs.append(Int32(inputIDs.count + j - 1)) }
            }
            inputIDs.append(contentsOf: phrase.tokens)
        }
        let statesIxs = actionsIxs + [Int32(inputIDs.count - 1)]
        var rewards = [Float](repeating: 0, count: actionsIxs.count)
        if !rewards.isEmpty { rewards[rewards.count - 1] = Float(standardizedReward) }
        let dones = [Float](repeating: 1, count: actionsIxs.count) + [0]
        return ILQLElement(inputIDs: inputIDs, actionsIxs: actionsIxs, statesIxs: statesIxs, dones: dones, rewards: rewards)
    }
}

/// A right-padded batch of ILQL elements, flat and row-major (ILQL.md §1): token ids, indices,
/// rewards and dones are padded with 0. Padded entries are removed only by the mask
/// `dones[:, :-1]`.
public struct ILQLBatch: Equatable, Sendable {
    /// Number of sequences B.
    public var batchSize: Int
    /// Longest sequence T.
    public var length: Int
    /// Most actions of any sequence A.
    public var actionCount: Int
    /// (B, T)
    public var inputIDs: [Int32]
    /// (B, A)
    public var actionsIxs: [Int32]
    /// (B, A+1)
    public var statesIxs: [Int32]
    /// (B, A)
    public var rewards: [Float]
    /// (B, A+1)
    public var dones: [Float]
    /// (B) real length of each sequence (positions past it are padding).
    public var sequenceLengths: [Int]
    /// The sequences end to end, without their padding: what the trunk computes on.
    public var sequences: SequenceLayout
    /// (Σ lengths) the token ids of `sequences`' rows: `inputIDs` without the padding.
    public var packedInputIDs: [Int32]

    /// Pads `elements` to a batch.
    public init(_ elements: [ILQLElement]) {
        batchSize = elements.count
        length = elements.map(\.inputIDs.count).max() ?? 0
        actionCount = elements.map(\.actionCount).max() ?? 0
        let b = batchSize, t = length, a = actionCount
        inputIDs = [Int32](repeating: 0, count: b * t)
        actionsIxs = [Int32](repeating: 0, count: b * a)
        statesIxs = [Int32](repeating: 0, count: b * (a + 1))
        rewards = [Float](repeating: 0, count: b * a)
        dones = [Float](repeating: 0, count: b * (a + 1))
        sequenceLengths = elements.map(\.inputIDs.count)
        sequences = SequenceLayout(lengths: sequenceLengths)
        packedInputIDs = elements.flatMap(\.inputIDs)
        for (i, element) in elements.enumerated() {
            for (j, id) in element.inputIDs.enumerated() { inputIDs[i * t + j] = id }
            for (j, ix) in element.actionsIxs.enumerated() { actionsIxs[i * a + j] = ix }
            for (j, ix) in element.statesIxs.enumerated() { statesIxs[i * (a + 1) + j] = ix }
            for (j, r) in element.rewards.enumerated() { rewards[i * a + j] = r }
            for (j, d) in element.dones.enumerated() { dones[i * (a + 1) + j] = d }
        }
    }

    /// trlx's `actions = input_ids[:, 1:].gather(1, actions_ixs)` for sequence b, action t.
    public func action(_ b: Int, _ t: Int) -> Int32 {
        let index = Int(actionsIxs[b * actionCount + t]) + 1
        return index < length ? inputIDs[b * length + index] : 0
    }

    /// The terminal mask `dones[:, :-1]` for sequence b, action t.
    public func mask(_ b: Int, _ t: Int) -> Float { dones[b * (actionCount + 1) + t] }

    /// N: the number of unmasked action entries, at least 1 (trlx's `n_nonterminal`).
    public var normalizer: Int {
        var n: Float = 0
        for b in 0..<batchSize { for t in 0..<actionCount { n += mask(b, t) } }
        return max(1, Int(n))
    }
}
