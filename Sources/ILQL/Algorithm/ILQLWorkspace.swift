import ILQLKernels
import ILQLModel

/// Views of one worker's ILQL buffers. E bounds the action entries and S the value slots of a
/// micro-batch (both at most B·T); d is the width, V the vocabulary.
struct ILQLBuffers {
    // Per entry (E) and per value slot (S).
    var entryRewards, entryMask, entryNextDone, entryValues, entryNextValues, entryTargetQ: UnsafeMutablePointer<Float>
    var targetScratch: UnsafeMutablePointer<Float>
    var actionInputs, stateInputs: UnsafeMutablePointer<Float>          // (E, d), (S, d) gathered hidden rows
    var logitRows: UnsafeMutablePointer<Float>                          // (E, V)
    var qHidden, qRows: [UnsafeMutablePointer<Float>]                   // per Q head (E, 2d), (E, V)
    var targetHidden: UnsafeMutablePointer<Float>                       // (E, 2d), reused per target head
    var valueHidden, valueOutputs: UnsafeMutablePointer<Float>          // (S, 2d), (S)
    var dQRows: [UnsafeMutablePointer<Float>]                           // per Q head (E, V)
    var dLogitRows: UnsafeMutablePointer<Float>                         // (E, V)
    var dEntryValues, dValueOutputs: UnsafeMutablePointer<Float>        // (E), (S)
    var dActionInputs, dStateInputs: UnsafeMutablePointer<Float>        // (E, d), (S, d)
    var dHeadHidden: UnsafeMutablePointer<Float>                        // (max(E, S), 2d)
    var dHidden: UnsafeMutablePointer<Float>                            // (B·T, d)

    init(capacity e: Int, width d: Int, vocabularySize v: Int, qHeadCount: Int, carver: inout ArenaCarver) {
        entryRewards = carver.take(e)
        entryMask = carver.take(e)
        entryNextDone = carver.take(e)
        entryValues = carver.take(e)
        entryNextValues = carver.take(e)
        entryTargetQ = carver.take(e)
        targetScratch = carver.take(e)
        actionInputs = carver.take(e * d)
        stateInputs = carver.take(e * d)
        logitRows = carver.take(e * v)
        qHidden = (0..<qHeadCount).map { _ in carver.take(e * 2 * d) }
        qRows = (0..<qHeadCount).map { _ in carver.take(e * v) }
        targetHidden = carver.take(e * 2 * d)
        valueHidden = carver.take(e * 2 * d)
        valueOutputs = carver.take(e)
        dQRows = (0..<qHeadCount).map { _ in carver.take(e * v) }
        dLogitRows = carver.take(e * v)
        dEntryValues = carver.take(e)
        dValueOutputs = carver.take(e)
        dActionInputs = carver.take(e * d)
        dStateInputs = carver.take(e * d)
        dHeadHidden = carver.take(e * 2 * d)
        dHidden = carver.take(e * d)
    }
}

/// Wall time of the phases of a worker's share of a step.
public struct PhaseSeconds: Sendable, Equatable {
    /// The trunk's forward pass.
    public var trunkForward = 0.0
    /// Gathering rows, the heads forward and backward, the loss, the LM head at action rows.
    public var headsAndLoss = 0.0
    /// The trunk's backward pass.
    public var trunkBackward = 0.0
    /// The worker's gradient buffers around those passes: zeroing one for each micro-batch,
    /// adding its micro-batches' gradients pairwise, and checking that the result is finite.
    /// Each is a pass over a whole gradient buffer, so on a model with large heads it is
    /// bandwidth-bound time that no matrix product hides.
    public var gradientBuffers = 0.0

    /// Zero times.
    public init() {}
}

/// One worker's buffers for the ILQL step: the trunk's activation arena plus every gathered row,
/// head activation and gradient the heads and loss need, sized once for the largest micro-batch.
/// Nothing is allocated inside a step.
public final class ILQLWorkspace {
    /// The trunk's activations.
    public let trunk: GPT2Activations
    /// Largest number of action entries and of value slots (B·T bounds both).
    public let entryCapacity: Int
    /// Largest micro-batch the workspace serves.
    public let maxBatch: Int, maxLength: Int
    /// Time spent in each phase of `accumulateGradients` since the last reset (for benchmarks).
    public var phaseSeconds = PhaseSeconds()

    let storage: FloatBuffer
    let buffers: ILQLBuffers
    let lossScratch: ILQLLossScratch
    // Entry bookkeeping: hidden-state row and value slots of each entry, hidden-state row of each
    // value slot, and the slot of each (sequence, state) pair (−1 when not needed).
    let entryRows, entrySlots, entryNextSlots, slotRows, slotOfState: UnsafeMutablePointer<Int>
    let entryActions: UnsafeMutablePointer<Int32>

    /// Buffers for micro-batches of up to `maxBatch` sequences of up to `maxLength` tokens.
    public init(gpt2: GPT2Config, qHeadCount: Int, maxBatch: Int, maxLength: Int) {
        trunk = GPT2Activations(config: gpt2, maxBatch: maxBatch, maxLength: maxLength)
        self.maxBatch = maxBatch
        self.maxLength = maxLength
        let e = maxBatch * maxLength
        entryCapacity = e
        lossScratch = ILQLLossScratch(capacity: e)
        (storage, buffers) = ArenaCarver.allocate {
            ILQLBuffers(capacity: e, width: gpt2.width, vocabularySize: gpt2.vocabularySize, qHeadCount: qHeadCount,
                        carver: &$0)
        }
        // States per sequence are at most A + 1 ≤ T, so B·T + B covers the state → slot map.
        func integers(_ count: Int) -> UnsafeMutablePointer<Int> {
            let pointer = UnsafeMutablePointer<Int>.allocate(capacity: count)
            pointer.initialize(repeating: 0, count: count)
            return pointer
        }
        entryRows = integers(e)
        entrySlots = integers(e)
        entryNextSlots = integers(e)
        slotRows = integers(e)
        slotOfState = integers(e + maxBatch)
        entryActions = UnsafeMutablePointer<Int32>.allocate(capacity: e)
        entryActions.initialize(repeating: 0, count: e)
    }

    deinit {
        for pointer in [entryRows, entrySlots, entryNextSlots, slotRows, slotOfState] { pointer.deallocate() }
        entryActions.deallocate()
    }

    /// Bytes held (for memory reports).
    public var byteCount: Int { trunk.byteCount + storage.count * MemoryLayout<Float>.stride }
}
