/// An offline dataset ready for training: every sample tokenised and turned into an ILQL element,
/// with rewards standardised once over the whole dataset (ILQL.md §1).
public struct OfflineDataset: Sendable {
    /// One element per sample, in sample order.
    public let elements: [ILQLElement]
    /// Mean and unbiased standard deviation of the raw rewards (the standardisation applied).
    public let rewardMean: Double, rewardStandardDeviation: Double

    /// Tokenises `samples` with `tokenizer` and builds their elements, truncated to `maxLength`
    /// tokens.
    ///
    /// - Throws: `DataError` naming the sample (1-based, in file order) when it has no action left
    ///   after tokenisation and truncation (an empty output, or a prompt that fills `maxLength`),
    ///   or when the dataset is empty. Nothing is silently dropped.
    public init(samples: [OfflineSample], tokenizer: any Tokenizer, maxLength: Int, source: String) throws {
        guard !samples.isEmpty else { throw DataError(file: source, line: nil, field: nil, "holds no samples") }
        guard maxLength >= 2 else {
            throw DataError(file: source, line: nil, field: nil, "seq_length \(maxLength) is too short: a sample needs a prompt token and an action")
        }
        let raw = samples.map(\.reward)
        let standardized = ILQLElementBuilder.standardize(raw)
        let bos = tokenizer.bosTokenID ?? tokenizer.eosTokenID
        var elements: [ILQLElement] = []
        elements.reserveCapacity(samples.count)
        for (index, sample) in samples.enumerated() {
            // Errors name the file and line the sample came from, or its position in memory.
            func failure(_ message: String) -> DataError {
                if let origin = sample.origin { return DataError(file: origin.file, line: origin.line, field: "sample", message) }
                return DataError(file: source, line: nil, field: "sample", "sample \(index + 1) " + message)
            }
            let phrases: [[Int32]]
            do { phrases = try sample.tokenizedPhrases(with: tokenizer) } catch {
                throw failure("cannot be tokenised: \(error)")
            }
            let truncated = ILQLElementBuilder.truncatedPhrases(phrases, eos: tokenizer.eosTokenID, bos: bos, maxLength: maxLength)
            let element = ILQLElementBuilder.element(phrases: truncated, standardizedReward: standardized[index])
            guard element.actionCount > 0 else {
                throw failure("has no output token left after tokenisation and truncation to seq_length \(maxLength); shorten its prompt or raise seq_length")
            }
            elements.append(element)
        }
        self.elements = elements
        let mean = raw.reduce(0, +) / Double(raw.count)
        rewardMean = mean
        rewardStandardDeviation = raw.count > 1
            ? (raw.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(raw.count - 1)).squareRoot()
            : .nan
    }

    /// A dataset of elements built elsewhere (already tokenised, rewards already standardised).
    public init(elements: [ILQLElement]) {
        precondition(!elements.isEmpty, "a dataset needs at least one element")
        self.elements = elements
        rewardMean = .nan
        rewardStandardDeviation = .nan
    }

    /// Number of samples.
    public var count: Int { elements.count }

    /// The padded batch of the elements at `indices`, in that order.
    public func batch(_ indices: some Sequence<Int>) -> ILQLBatch {
        ILQLBatch(indices.map { elements[$0] })
    }
}
