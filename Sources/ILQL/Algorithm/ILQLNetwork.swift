import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import ILQLKernels
import ILQLModel

/// Views of every tensor of a GPT-2 with ILQL heads inside one flat buffer (parameters or
/// gradients: both share the table).
public struct ILQLTensors {
    /// The trunk.
    public var trunk: GPT2Tensors
    /// The value, Q and target-Q heads.
    public var heads: ILQLHeadTensors
}

/// A GPT-2 trunk with ILQL's heads (ILQL.md §2), and the computation of one micro-batch's loss
/// and gradient (ILQL.md §3).
public struct ILQLNetwork: Sendable {
    /// Shape of the trunk.
    public let gpt2: GPT2Config
    /// The method's hyperparameters.
    public let ilql: ILQLConfig
    /// Every parameter: trunk rows first (Hugging Face keys), then heads (trlx keys).
    public let table: ParameterTable

    /// The network of this shape; `gpt2` must be valid.
    public init(gpt2: GPT2Config, ilql: ILQLConfig) {
        self.gpt2 = gpt2
        self.ilql = ilql
        var table = GPT2Layout.table(for: gpt2)
        ILQLHeadsLayout.append(to: &table, width: gpt2.width, vocabularySize: gpt2.vocabularySize,
                               qHeadCount: ilql.qHeadCount)
        self.table = table
    }

    /// Views of `base` (a buffer of `table.totalCount` floats).
    public func tensors(_ base: UnsafeMutablePointer<Float>) -> ILQLTensors {
        ILQLTensors(trunk: GPT2Tensors(base: base, table: table, config: gpt2),
                    heads: ILQLHeadTensors(base: base, table: table, vocabularySize: gpt2.vocabularySize,
                                           qHeadCount: ilql.qHeadCount))
    }

    /// Model FLOPs of one training step (forward and backward) on `sequences` (their real
    /// positions: padding is not computed) holding `actions` action entries and `states` value
    /// slots, counted from the shapes: the trunk (GPT2.forwardFLOPs without the LM head, ×3 for
    /// the backward), the LM head at the action rows (×3), the online Q heads and the V head (×3),
    /// and the target heads' forward (their hidden layer and one output column per action).
    /// 2 FLOPs per multiply-add.
    public func stepFLOPs(sequences: SequenceLayout, actions: Int, states: Int) -> Double {
        let d = Double(gpt2.width), v = Double(gpt2.vocabularySize), a = Double(actions), s = Double(states)
        let trunk = 3 * GPT2(config: gpt2).forwardFLOPs(sequences: sequences, includeLogits: false)
        let lmHead = 3 * 2 * d * v * a
        let qHeads = Double(ilql.qHeadCount) * 3 * 2 * (d * 2 * d + 2 * d * v) * a
        let valueHead = 3 * 2 * (d * 2 * d + 2 * d) * s
        let targetHeads = Double(ilql.qHeadCount) * 2 * (d * 2 * d + 2 * d) * a
        return trunk + lmHead + qHeads + valueHead + targetHeads
    }

    /// `stepFLOPs` of a batch made of `elements`: their real positions, an entry per action and a
    /// value slot per action (the last state's value is never read: its `dones` is 0).
    public func stepFLOPs(batch elements: [ILQLElement]) -> Double {
        let actions = elements.reduce(0) { $0 + $1.actionCount }
        return stepFLOPs(sequences: SequenceLayout(lengths: elements.map(\.inputIDs.count)), actions: actions,
                         states: actions)
    }

    /// A workspace for micro-batches of up to `maxBatch` × `maxLength`.
    public func makeWorkspace(maxBatch: Int, maxLength: Int) -> ILQLWorkspace {
        ILQLWorkspace(gpt2: gpt2, qHeadCount: ilql.qHeadCount, maxBatch: maxBatch, maxLength: maxLength)
    }

    /// Computes the loss of `batch` and accumulates its gradient into `gradients`.
    ///
    /// - Parameter normalizer: N of the whole batch this micro-batch belongs to (ILQL.md §8.1);
    ///   `batch.normalizer` when the batch is not split.
    /// - Returns: the micro-batch's share of the loss terms and statistics.
    public func accumulateGradients(
        parameters p: ILQLTensors, gradients g: ILQLTensors, batch: ILQLBatch, normalizer: Int,
        workspace w: ILQLWorkspace
    ) -> ILQLLossOutput {
        accumulateGradients(parameters: p, gradients: g, batch: batch, normalizer: normalizer, workspace: w,
                            frozen: nil, capture: nil)
    }

    /// The loss's constants of one micro-batch, per entry: the target Q, the next state's value
    /// (times its `dones`) and the AWAC weight. A finite-difference check holds them fixed.
    struct FrozenConstants {
        var targetQ: [Float], nextValues: [Float], awacWeights: [Float]
    }

    /// The same computation, optionally with the constants replaced by `frozen`, and reporting
    /// the constants it used to `capture`.
    func accumulateGradients(
        parameters p: ILQLTensors, gradients g: ILQLTensors, batch: ILQLBatch, normalizer: Int,
        workspace w: ILQLWorkspace, frozen: FrozenConstants?, capture: ((FrozenConstants) -> Void)?
    ) -> ILQLLossOutput {
        let t = batch.length, d = gpt2.width, v = gpt2.vocabularySize, a = batch.actionCount
        precondition(batch.batchSize <= w.maxBatch && t <= w.maxLength, "micro-batch larger than the workspace")
        let model = GPT2(config: gpt2)
        let buffers = w.buffers
        // Differs from trlx: the trunk runs on the sequences packed end to end, so padding
        // positions are not computed at all (trlx computes them and masks them out). Under the
        // causal mask right padding never reached a real position, so the values are the same.
        let sequences = batch.sequences
        // The LM head is applied only at action rows (below), not at every position.
        let started = DispatchTime.now().uptimeNanoseconds
        model.forward(parameters: p.trunk, activations: w.trunk, tokens: batch.packedInputIDs,
                      sequences: sequences, computeLogits: false)

        let forwardDone = DispatchTime.now().uptimeNanoseconds
        // Value slots: the states whose V is read, as V (mask ≠ 0) or as V' of an entry.
        var slotCount = 0
        for b in 0..<batch.batchSize {
            for s in 0...a {
                let index = b * (a + 1) + s
                let asValue = s < a && batch.mask(b, s) != 0
                let asNext = s > 0 && batch.mask(b, s - 1) != 0 && batch.dones[index] != 0
                if asValue || asNext {
                    w.slotOfState[index] = slotCount
                    w.slotRows[slotCount] = sequences.rowStart(b) + Int(batch.statesIxs[index])
                    slotCount += 1
                } else {
                    w.slotOfState[index] = -1
                }
            }
        }
        // Entries: every (sequence, action) with a nonzero mask; the rest never enter the loss.
        var entryCount = 0
        for b in 0..<batch.batchSize {
            for s in 0..<a where batch.mask(b, s) != 0 {
                let e = entryCount
                w.entryRows[e] = sequences.rowStart(b) + Int(batch.actionsIxs[b * a + s])
                w.entryActions[e] = batch.action(b, s)
                buffers.entryRewards[e] = batch.rewards[b * a + s]
                buffers.entryMask[e] = batch.mask(b, s)
                buffers.entryNextDone[e] = batch.dones[b * (a + 1) + s + 1]
                w.entrySlots[e] = w.slotOfState[b * (a + 1) + s]
                w.entryNextSlots[e] = w.slotOfState[b * (a + 1) + s + 1]
                entryCount += 1
            }
        }
        let n = entryCount
        gatherRows(into: buffers.actionInputs, from: w.trunk.hidden, rows: w.entryRows, count: n, width: d)
        gatherRows(into: buffers.stateInputs, from: w.trunk.hidden, rows: w.slotRows, count: slotCount, width: d)

        // Heads, only where the loss reads them.
        Matmul.forward(out: buffers.logitRows, input: buffers.actionInputs, weight: p.trunk.tokenEmbedding, bias: nil,
                       rows: n, inFeatures: d, outFeatures: v, layout: .outputMajor)
        for k in 0..<ilql.qHeadCount {
            p.heads.q[k].hiddenForward(hidden: buffers.qHidden[k], input: buffers.actionInputs, rows: n, width: d)
            p.heads.q[k].outputForward(out: buffers.qRows[k], hidden: buffers.qHidden[k], rows: n, width: d)
        }
        for k in 0..<ilql.qHeadCount {
            let target = p.heads.targetQ[k]
            target.hiddenForward(hidden: buffers.targetHidden, input: buffers.actionInputs, rows: n, width: d)
            let out = k == 0 ? buffers.entryTargetQ : buffers.targetScratch
            target.selectedOutputs(out: out, hidden: buffers.targetHidden, columns: w.entryActions, rows: n, width: d)
            if k > 0 { for e in 0..<n { buffers.entryTargetQ[e] = min(buffers.entryTargetQ[e], out[e]) } }
        }
        p.heads.value.hiddenForward(hidden: buffers.valueHidden, input: buffers.stateInputs, rows: slotCount, width: d)
        p.heads.value.outputForward(out: buffers.valueOutputs, hidden: buffers.valueHidden, rows: slotCount, width: d)
        for e in 0..<n {
            buffers.entryValues[e] = buffers.valueOutputs[w.entrySlots[e]]
            let next = w.entryNextSlots[e]
            buffers.entryNextValues[e] = next >= 0 ? buffers.valueOutputs[next] * buffers.entryNextDone[e] : 0
        }

        if let frozen {
            buffers.entryTargetQ.update(from: frozen.targetQ, count: n)
            buffers.entryNextValues.update(from: frozen.nextValues, count: n)
            buffers.targetScratch.update(from: frozen.awacWeights, count: n)
        }
        if let capture {
            let targetQ = Array(UnsafeBufferPointer(start: buffers.entryTargetQ, count: n))
            capture(FrozenConstants(
                targetQ: targetQ, nextValues: Array(UnsafeBufferPointer(start: buffers.entryNextValues, count: n)),
                awacWeights: (0..<n).map { expf(ilql.beta * (targetQ[$0] - buffers.entryValues[$0])) }))
        }

        // Loss and its gradient with respect to Q rows, V and logit rows.
        for k in 0..<ilql.qHeadCount { buffers.dQRows[k].update(repeating: 0, count: n * v) }
        buffers.dLogitRows.update(repeating: 0, count: n * v)
        buffers.dEntryValues.update(repeating: 0, count: n)
        var inputs = ILQLLossInputs(
            count: n, vocabularySize: v, actions: w.entryActions, rewards: buffers.entryRewards,
            mask: buffers.entryMask, qRows: buffers.qRows.map { UnsafePointer($0) }, targetQ: buffers.entryTargetQ,
            values: buffers.entryValues, nextValues: buffers.entryNextValues, logitRows: buffers.logitRows)
        if frozen != nil { inputs.frozenAWACWeights = UnsafePointer(buffers.targetScratch) }
        let output = ILQLLoss.accumulate(
            inputs,
            into: ILQLLossGradients(dQRows: buffers.dQRows, dValues: buffers.dEntryValues,
                                    dLogitRows: buffers.dLogitRows),
            config: ilql, normalizer: normalizer, scratch: w.lossScratch)

        // Backward through the heads into the gathered rows, then into the trunk.
        buffers.dValueOutputs.update(repeating: 0, count: slotCount)
        for e in 0..<n { buffers.dValueOutputs[w.entrySlots[e]] += buffers.dEntryValues[e] }
        buffers.dActionInputs.update(repeating: 0, count: n * d)
        buffers.dStateInputs.update(repeating: 0, count: slotCount * d)
        p.heads.value.backward(gradients: g.heads.value, dInput: buffers.dStateInputs, dOut: buffers.dValueOutputs,
                               input: buffers.stateInputs, hidden: buffers.valueHidden,
                               dHiddenScratch: buffers.dHeadHidden, rows: slotCount, width: d)
        for k in 0..<ilql.qHeadCount {
            p.heads.q[k].backward(gradients: g.heads.q[k], dInput: buffers.dActionInputs, dOut: buffers.dQRows[k],
                                  input: buffers.actionInputs, hidden: buffers.qHidden[k],
                                  dHiddenScratch: buffers.dHeadHidden, rows: n, width: d)
        }
        Matmul.backward(dInput: buffers.dActionInputs, dWeight: g.trunk.tokenEmbedding, dBias: nil,
                        dOut: buffers.dLogitRows, input: buffers.actionInputs, weight: p.trunk.tokenEmbedding,
                        rows: n, inFeatures: d, outFeatures: v, layout: .outputMajor)
        buffers.dHidden.update(repeating: 0, count: sequences.rowCount * d)
        scatterAddRows(into: buffers.dHidden, from: buffers.dActionInputs, rows: w.entryRows, count: n, width: d)
        scatterAddRows(into: buffers.dHidden, from: buffers.dStateInputs, rows: w.slotRows, count: slotCount, width: d)
        let headsDone = DispatchTime.now().uptimeNanoseconds
        model.backward(parameters: p.trunk, gradients: g.trunk, activations: w.trunk, tokens: batch.packedInputIDs,
                       sequences: sequences, dLogits: nil, dHidden: buffers.dHidden)
        let backwardDone = DispatchTime.now().uptimeNanoseconds
        w.phaseSeconds.trunkForward += Double(forwardDone - started) / 1e9
        w.phaseSeconds.headsAndLoss += Double(headsDone - forwardDone) / 1e9
        w.phaseSeconds.trunkBackward += Double(backwardDone - headsDone) / 1e9
        return output
    }

    private func gatherRows(into destination: UnsafeMutablePointer<Float>, from source: UnsafePointer<Float>,
                            rows: UnsafePointer<Int>, count: Int, width: Int) {
        for r in 0..<count { (destination + r * width).update(from: source + rows[r] * width, count: width) }
    }

    private func scatterAddRows(into destination: UnsafeMutablePointer<Float>, from source: UnsafePointer<Float>,
                                rows: UnsafePointer<Int>, count: Int, width: Int) {
        for r in 0..<count {
            let d = destination + rows[r] * width, s = source + r * width
            for j in 0..<width { d[j] += s[j] }
        }
    }
}
