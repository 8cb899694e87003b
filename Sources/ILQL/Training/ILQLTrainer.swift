import Dispatch
import ILQLKernels
import ILQLModel
import ILQLParallel

/// The data-parallel ILQL trainer: worker threads pinned with hwloc each compute the loss and
/// gradient of their micro-batches; a Dispatch all-reduce sums the gradients in a fixed pairwise
/// order; the coordinator (the thread calling `trainStep`) runs AdamW and, on sync steps, the
/// Polyak update of the target heads in the same pass over memory.
///
/// Across machines (a `ProcessGroup` of several processes, one per machine), every process draws
/// the same batches, the micro-batches are dealt to the processes' workers as if they were the
/// workers of one process (rank r's workers come after rank r−1's), and one sum over the
/// processes of the flat gradient buffer follows the in-process all-reduce. Every process then
/// takes the same optimizer step, so parameters and target heads stay identical everywhere.
public final class ILQLTrainer {
    /// The run's settings.
    public let config: TrainerConfig
    /// The network being trained.
    public let network: ILQLNetwork
    /// The training data.
    public let dataset: OfflineDataset
    /// Every parameter, laid out by `network.table`: the weights the workers read.
    public let parameters: FloatBuffer
    /// AdamW's moments, same layout over the trainable prefix (`table.trainablePrefixCount`).
    public let firstMoment: FloatBuffer, secondMoment: FloatBuffer
    /// Optimizer steps done.
    public internal(set) var step = 0
    /// Where the data order stands.
    public internal(set) var dataOrder: DataOrder
    /// Worker threads (of this process).
    public let workerCount: Int
    /// The processes taking part in the run (`SingleProcess` on one machine).
    public let processGroup: any ProcessGroup
    /// Micro-batches per batch (fewer on a batch with fewer sequences).
    public let microBatchCount: Int

    private let pool: WorkerPool
    private let workers: [WorkerState]
    private let parameterViews: ILQLTensors
    /// The optimizer's chunks: ranges inside one table row each, and that row.
    private let chunks: [Range<Int>]
    private let chunkRows: [Int]
    /// For each optimizer chunk of an online Q head, the range of its target head's copy: the
    /// Polyak update runs right after that chunk's AdamW step, while it is in cache.
    private let targetOfChunk: [Range<Int>?]
    private let chunkNorms: UnsafeMutablePointer<Double>
    /// Per optimizer chunk, the seconds its sum over workers and its optimizer step took in the
    /// last pass: how `StepReport` divides a fused pass between the two.
    private let chunkSumSeconds: UnsafeMutablePointer<Double>, chunkStepSeconds: UnsafeMutablePointer<Double>

    /// Floats per all-reduce chunk: 64 KiB, a multiple of a cache line, small enough to spread
    /// over every core and large enough to amortise the dispatch.
    static let chunkSize = 16_384

    /// Prepares a run: validates the config, initialises the parameters (GPT-2's and PyTorch's
    /// initialisation from `config.seed`) unless `initialParameters` are given, and starts the
    /// workers, each allocating its buffers once.
    ///
    /// With a `processGroup` of several processes, `config.parallel.workers` counts the workers of
    /// each process, the micro-batches default to one per worker of the whole group, and every
    /// process ends this initialiser holding rank 0's parameters (see `broadcastStateFromRoot`);
    /// each process must load the same data.
    public init(config: TrainerConfig, dataset: OfflineDataset, initialParameters: FloatBuffer? = nil,
                processGroup: any ProcessGroup = SingleProcess()) throws {
        try config.validate()
        self.config = config
        self.processGroup = processGroup
        self.dataset = dataset
        let network = ILQLNetwork(gpt2: config.model, ilql: config.method)
        self.network = network
        let table = network.table
        if let initialParameters {
            precondition(initialParameters.count == table.totalCount, "initial parameters laid out by another table")
            parameters = initialParameters
        } else {
            parameters = FloatBuffer(count: table.totalCount)
            var generator = SeededGenerator(seed: config.seed)
            table.initialize(parameters.pointer, generator: &generator)
        }
        // Moments and gradients cover the trainable prefix of the layout only (see
        // ParameterTable.trainablePrefixCount): the target heads after it have neither.
        firstMoment = FloatBuffer(count: table.trainablePrefixCount)
        secondMoment = FloatBuffer(count: table.trainablePrefixCount)
        parameterViews = network.tensors(parameters.pointer)
        // The data order has its own stream so that changing the model does not reshuffle data.
        dataOrder = DataOrder(sampleCount: dataset.count, seed: config.seed &+ 0x0DA7_A0D3)

        let requestedWorkers = config.parallel.workers ?? Topology.defaultWorkerCount()
        let groupWorkers = requestedWorkers * processGroup.size
        let microBatches = min(config.parallel.microBatches ?? groupWorkers, config.batchSize)
        microBatchCount = microBatches
        workerCount = min(requestedWorkers, microBatches)
        if workerCount < requestedWorkers {
            BindingWarnings.warnOnce(BindingWarnings.Key("fewerMicroBatchesThanWorkers"),
                "only \(microBatches) micro-batches per batch: using \(workerCount) of \(requestedWorkers) workers")
        } else if microBatches < groupWorkers {
            BindingWarnings.warnOnce(BindingWarnings.Key("fewerMicroBatchesThanGroupWorkers"),
                "only \(microBatches) micro-batches per batch for \(groupWorkers) workers on \(processGroup.size) processes: some workers idle")
        }

        var chunks: [Range<Int>] = [], chunkRows: [Int] = []
        var targetOfOnline: [Int: Range<Int>] = [:]
        for (row, (spec, offset)) in zip(table.specs, table.offsets).enumerated() {
            for piece in AllReduce.chunks(count: spec.count, size: Self.chunkSize) {
                // Target heads get no gradient and no AdamW step: the all-reduce skips them.
                if spec.trainable {
                    chunks.append((offset + piece.lowerBound)..<(offset + piece.upperBound))
                    chunkRows.append(row)
                }
                // A target tensor is cut into the same pieces as its online source, so each
                // target piece matches one optimizer chunk.
                if case let .copy(of: source) = spec.initialization {
                    targetOfOnline[table.offset(ofKey: source) + piece.lowerBound] =
                        (offset + piece.lowerBound)..<(offset + piece.upperBound)
                }
            }
        }
        self.chunks = chunks
        self.chunkRows = chunkRows
        targetOfChunk = chunks.map { targetOfOnline.removeValue(forKey: $0.lowerBound) }
        precondition(targetOfOnline.isEmpty, "a target head piece matches no optimizer chunk")
        chunkNorms = UnsafeMutablePointer<Double>.allocate(capacity: chunks.count)
        chunkNorms.initialize(repeating: 0, count: chunks.count)
        chunkSumSeconds = UnsafeMutablePointer<Double>.allocate(capacity: chunks.count)
        chunkSumSeconds.initialize(repeating: 0, count: chunks.count)
        chunkStepSeconds = UnsafeMutablePointer<Double>.allocate(capacity: chunks.count)
        chunkStepSeconds.initialize(repeating: 0, count: chunks.count)

        let maxMicroBatch = (config.batchSize + microBatches - 1) / microBatches
        let states = (0..<workerCount).map { _ in WorkerState(gradientCount: table.trainablePrefixCount) }
        workers = states
        let seqLength = config.seqLength
        pool = WorkerPool(workers: workerCount, pin: config.parallel.pin, firstCore: config.parallel.firstCore) { index in
            // OpenBLAS stays on the calling thread: the parallelism comes from the workers.
            BLAS.useSingleThread()
            states[index].workspace = network.makeWorkspace(maxBatch: maxMicroBatch, maxLength: seqLength)
        }
        if processGroup.size > 1 { try broadcastStateFromRoot() }
    }

    deinit {
        pool.shutdown()
        chunkNorms.deallocate()
        chunkSumSeconds.deallocate()
        chunkStepSeconds.deallocate()
    }

    /// Steps the configured run takes: `min(total_steps, epochs × batches per epoch)`.
    public var totalSteps: Int {
        min(config.totalSteps, config.epochs * dataOrder.batchesPerEpoch(batchSize: config.batchSize))
    }

    /// Bytes of the buffers the design requires: parameters, AdamW's two moments, and per worker
    /// its workspace and the gradient buffers it has allocated (see `GradientStack`).
    public var requiredBufferBytes: Int {
        let floats = MemoryLayout<Float>.stride
        return (parameters.count + firstMoment.count + secondMoment.count) * floats + workers.reduce(0) { total, worker in
            total + (worker.workspace?.byteCount ?? 0) + worker.stack.allocatedBuffers * worker.stack.count * floats
        }
    }

    /// The logical core each worker last ran on (nil where the system does not say).
    public var workerCores: [Int?] { pool.lastCores }

    /// Called in each worker before its share of every step (tests inject delays with it).
    public var beforeEachWorkerJob: ((Int) -> Void)? {
        get { pool.beforeEachJob }
        set { pool.beforeEachJob = newValue }
    }

    /// Trains until `steps` more steps are done or the run's `totalSteps` is reached, calling
    /// `onStep` after each; returns the last step's report. Throws only when the process group
    /// fails (a lost peer).
    @discardableResult
    public func train(steps: Int? = nil, onStep: (StepReport) -> Void = { _ in }) throws -> StepReport? {
        let end = min(totalSteps, steps.map { step + $0 } ?? totalSteps)
        var last: StepReport?
        while step < end {
            let report = try trainStep()
            onStep(report)
            last = report
        }
        return last
    }

    /// Steps whose batch was skipped because its loss or gradient was not finite
    /// (`onNonFinite: .skip`).
    public internal(set) var skippedSteps = 0

    /// One optimizer step on the next batch.
    ///
    /// When the batch's loss or gradient is not finite, nothing is updated: with
    /// `onNonFinite: .stop` the step is not taken at all (the data order is rewound, so the
    /// trainer still holds the last good state and `step` is unchanged) and the report lists the
    /// faulty terms; with `.skip` the batch is dropped, the step counted and `skippedSteps` raised.
    /// Every process of a group makes the same decision.
    ///
    /// Throws only when the process group fails (a lost peer); the step is then not taken.
    public func trainStep() throws -> StepReport {
        let start = DispatchTime.now().uptimeNanoseconds
        let orderBefore = dataOrder
        let indices = dataOrder.nextBatch(size: config.batchSize)
        let gradients: ComputedGradients
        do { gradients = try computeGradients(sampleIndices: indices) } catch {
            dataOrder = orderBefore
            throw error
        }
        let computed = DispatchTime.now().uptimeNanoseconds

        let learningRate = config.scheduler.learningRate(base: config.optimizer.learningRate, step: step)
        var statistics = gradients.output.statistics(config.method, normalizer: Double(gradients.normalizer))
        statistics["learning_rate"] = learningRate
        let faults = ["losses/loss_q", "losses/loss_v", "losses/loss_cql", "losses/loss_awac"]
            .filter { !(statistics[$0]?.isFinite ?? false) }
            + (gradients.finite ? [] : ["gradient"])
        guard faults.isEmpty else {
            if config.onNonFinite == .stop {
                dataOrder = orderBefore
            } else {
                step += 1
                skippedSteps += 1
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            return StepReport(
                step: config.onNonFinite == .stop ? step + 1 : step, epoch: dataOrder.epoch, learningRate: learningRate,
                statistics: statistics, tokens: gradients.tokens, seconds: seconds, computeSeconds: seconds,
                reduceSeconds: 0, idleSeconds: [], syncedTargets: false, nonFinite: faults)
        }
        step += 1
        let syncs = network.syncsTargets(afterStep: step)
        let split: PassSplit
        do { split = try reduceAndUpdate(gradients.buffers, learningRate: learningRate, syncingTargets: syncs) } catch {
            // Nothing was updated: the sum over processes comes before any optimizer step.
            step -= 1
            dataOrder = orderBefore
            throw error
        }
        let end = DispatchTime.now().uptimeNanoseconds

        let active = workers.prefix(gradients.buffers.count)
        let slowest = active.map(\.computeSeconds).max() ?? 0
        let slowestPhases = active.max { $0.computeSeconds < $1.computeSeconds }?.workspace?.phaseSeconds ?? PhaseSeconds()
        return StepReport(
            step: step, epoch: dataOrder.epoch, learningRate: learningRate, statistics: statistics,
            tokens: gradients.tokens, seconds: Double(end - start) / 1e9,
            computeSeconds: Double(computed - start) / 1e9, reduceSeconds: Double(end - computed) / 1e9,
            allReduceSeconds: split.allReduce, optimizerSeconds: split.optimizer,
            idleSeconds: workers.map { max(0, slowest - $0.computeSeconds) }, phases: slowestPhases,
            syncedTargets: syncs)
    }

    /// A batch's gradient, left in per-worker buffers (not yet summed), with the whole batch's
    /// loss output (over every process), normaliser and token count.
    struct ComputedGradients {
        var buffers: [UnsafeMutablePointer<Float>]
        var output: ILQLLossOutput
        var normalizer: Int
        var tokens: Int
        /// Whether every gradient of every process is finite.
        var finite: Bool
    }

    /// The gradient of the batch made of `sampleIndices`: this process's share of it in
    /// per-worker buffers, and the loss output and finiteness of the whole batch.
    func computeGradients(sampleIndices: [Int]) throws -> ComputedGradients {
        let elements = sampleIndices.map { dataset.elements[$0] }
        // The group's workers in rank order, as if they were the workers of one process.
        let plan = MicroBatchPlan(lengths: elements.map(\.inputIDs.count), microBatchCount: microBatchCount,
                                  workers: workerCount * processGroup.size)
        let firstRun = min(processGroup.rank * workerCount, plan.runs.count)
        let localRuns = Array(plan.runs[firstRun..<min(firstRun + workerCount, plan.runs.count)])
        let batches = plan.microBatches.map { positions in ILQLBatch(positions.map { elements[$0] }) }
        // N of the whole batch: every loss term is divided by it, so the per-worker parts add up
        // to the one-worker gradient (ILQL.md §8.1).
        let normalizer = ILQLElement.normalizer(of: elements)
        let tokens = elements.reduce(0) { $0 + $1.inputIDs.count }
        let outputs = UnsafeMutablePointer<ILQLLossOutput>.allocate(capacity: batches.count)
        outputs.initialize(repeating: ILQLLossOutput(qHeadCount: config.method.qHeadCount), count: batches.count)
        defer { outputs.deinitialize(count: batches.count); outputs.deallocate() }
        let network = self.network, parameters = parameterViews, states = workers
        pool.run { index in
            let state = states[index]
            guard index < localRuns.count, let workspace = state.workspace else { return }
            let started = DispatchTime.now().uptimeNanoseconds
            workspace.phaseSeconds = PhaseSeconds()
            var bufferSeconds = 0.0
            state.stack.reset()
            for j in localRuns[index] {
                let leaf = Timing.adding(to: &bufferSeconds) { state.stack.leaf() }
                outputs[j] = network.accumulateGradients(
                    parameters: parameters, gradients: state.views(of: leaf, network: network), batch: batches[j],
                    normalizer: normalizer, workspace: workspace)
                Timing.adding(to: &bufferSeconds) { state.stack.push(leaf) }
            }
            Timing.adding(to: &bufferSeconds) { (state.result, state.finite) = state.stack.result() }
            workspace.phaseSeconds.gradientBuffers = bufferSeconds
            state.computeSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        }
        var finite = workers.prefix(localRuns.count).allSatisfy(\.finite)
        var buffers = workers.prefix(localRuns.count).map { $0.result!.pointer }
        if buffers.isEmpty {
            // More processes than micro-batches: this one adds a zero gradient to the sum.
            workers[0].stack.reset()
            let zero = workers[0].stack.leaf()
            workers[0].stack.push(zero)
            buffers = [zero.pointer]
        }
        if processGroup.size > 1 {
            let owned = localRuns.first.map { $0.lowerBound..<localRuns.last!.upperBound } ?? 0..<0
            finite = try exchangeOutputs(outputs, count: batches.count, owned: owned, finite: finite)
        }
        // Statistics merged in micro-batch order, whatever the worker or process count.
        var output = ILQLLossOutput(qHeadCount: config.method.qHeadCount)
        for j in 0..<batches.count { output.merge(outputs[j]) }
        return ComputedGradients(buffers: buffers, output: output, normalizer: normalizer, tokens: tokens, finite: finite)
    }

    /// Gives every process every micro-batch's loss output (each process fills the ones it
    /// computed) and returns whether every process's gradients were finite.
    ///
    /// One sum over processes of a vector in which each micro-batch's slots are filled by the one
    /// process that computed it and are zero elsewhere: adding zeros is exact, so every process
    /// receives the computed values bit for bit, infinities and NaN included.
    private func exchangeOutputs(_ outputs: UnsafeMutablePointer<ILQLLossOutput>, count: Int, owned: Range<Int>,
                                 finite: Bool) throws -> Bool {
        let width = ILQLLossOutput.packedCount(qHeadCount: config.method.qHeadCount)
        var packed = [Double](repeating: 0, count: count * width + 1)
        for j in owned { outputs[j].pack(into: &packed, at: j * width) }
        packed[count * width] = finite ? 0 : 1
        try packed.withUnsafeMutableBufferPointer { try processGroup.allReduceSum($0.baseAddress!, count: $0.count) }
        for j in 0..<count {
            outputs[j] = ILQLLossOutput(unpacking: packed, at: j * width, qHeadCount: config.method.qHeadCount)
        }
        return packed[count * width] == 0
    }

    /// Sums the workers' gradients into the first buffer and applies AdamW, chunk by chunk, then
    /// (when `syncingTargets`) the Polyak update of the chunk's target copy, which needs the
    /// online weights just written and so reads them from cache.
    ///
    /// On one machine the sum and the steps are one pass over memory. With several processes the
    /// in-process sum comes first, then the sum over processes of the whole buffer, then the step.
    ///
    /// Returns the pass's wall time divided between the all-reduce and the optimizer step.
    private func reduceAndUpdate(_ buffers: [UnsafeMutablePointer<Float>], learningRate: Double,
                                 syncingTargets: Bool) throws -> PassSplit {
        var buffers = buffers
        var split = PassSplit()
        if processGroup.size > 1 {
            try Timing.adding(to: &split.allReduce) {
                AllReduce.sum(buffers, chunks: self.chunks)
                // No scaling after the sum: each loss term was divided by the whole batch's N, so
                // the sum over processes is already the batch's gradient.
                try processGroup.allReduceSum(buffers[0], count: network.table.trainablePrefixCount)
            }
            buffers = [buffers[0]]
        }
        let gradient = buffers[0]
        let p = parameters.pointer, m = firstMoment.pointer, v = secondMoment.pointer
        let table = network.table, rows = chunkRows, chunks = self.chunks, t = step, config = self.config
        let targets = syncingTargets ? targetOfChunk : [], alpha = config.method.alpha
        // Every chunk belongs to a trainable tensor: the initialiser leaves the target heads out.
        func update(_ c: Int, _ range: Range<Int>, scale: Float) {
            let spec = table.specs[rows[c]]
            if scale != 1 { for i in range { gradient[i] *= scale } }
            AdamW.update(parameters: p + range.lowerBound, gradients: gradient + range.lowerBound,
                         firstMoment: m + range.lowerBound, secondMoment: v + range.lowerBound,
                         count: range.count, step: t,
                         hyperparameters: config.adamW(learningRate: learningRate, decays: spec.decays))
            if !targets.isEmpty, let target = targets[c] {
                Polyak.update(target: p + target.lowerBound, online: p + range.lowerBound, count: range.count, alpha: alpha)
            }
        }
        guard let maxNorm = config.maxGradNorm else {
            // One pass over memory: each chunk is summed, then stepped while still in cache.
            sumThen(buffers, into: &split) { c, range in update(c, range, scale: 1) }
            return split
        }
        // Clipping needs the whole gradient's norm before any step: sum and measure, then step.
        let norms = chunkNorms
        sumThen(buffers, into: &split) { c, range in
            var sum = 0.0
            for i in range { sum += Double(gradient[i]) * Double(gradient[i]) }
            norms[c] = sum
        }
        Timing.adding(to: &split.optimizer) {
            // Chunk norms are added in chunk order, so the total does not depend on thread timing.
            let norm = (0..<chunks.count).reduce(0.0) { $0 + norms[$1] }.squareRoot()
            // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
            let scale = Float(min(1, Double(maxNorm) / (norm + 1e-6)))
            DispatchQueue.concurrentPerform(iterations: chunks.count) { c in update(c, chunks[c], scale: scale) }
        }
        return split
    }

    /// Wall seconds of the gradient all-reduce and of the optimizer step (with clipping and the
    /// target sync) in one step.
    struct PassSplit {
        var allReduce = 0.0, optimizer = 0.0
    }

    /// `AllReduce.sum` of `buffers` with `afterChunk` on each summed chunk, its wall time added to
    /// `split` in proportion to the thread time the sums and `afterChunk` took. With one buffer
    /// there is nothing to sum, and all of it is `afterChunk`'s.
    private func sumThen(_ buffers: [UnsafeMutablePointer<Float>], into split: inout PassSplit,
                         afterChunk: @escaping (Int, Range<Int>) -> Void) {
        guard buffers.count > 1 else {
            split.optimizer += Timing.seconds { AllReduce.sum(buffers, chunks: chunks, afterChunk: afterChunk) }
            return
        }
        let sumSeconds = chunkSumSeconds, stepSeconds = chunkStepSeconds, count = chunks.count
        let wall = Timing.seconds {
            AllReduce.sum(buffers, chunks: chunks, sumSeconds: sumSeconds) { c, range in
                stepSeconds[c] = Timing.seconds { afterChunk(c, range) }
            }
        }
        let summed = (0..<count).reduce(0.0) { $0 + sumSeconds[$1] }
        let stepped = (0..<count).reduce(0.0) { $0 + stepSeconds[$1] }
        let reducing = summed + stepped > 0 ? wall * summed / (summed + stepped) : 0
        split.allReduce += reducing
        split.optimizer += wall - reducing
    }
}

/// One worker's long-lived state; only that worker touches it during a step.
final class WorkerState: @unchecked Sendable {
    var workspace: ILQLWorkspace?
    let stack: GradientStack
    var result: FloatBuffer?
    var finite = true
    var computeSeconds = 0.0
    // Views of each gradient buffer, built once per buffer (they hold arrays of pointers).
    private var viewCache: [UnsafeMutablePointer<Float>: ILQLTensors] = [:]

    init(gradientCount: Int) { stack = GradientStack(count: gradientCount) }

    /// Gradient buffers cover only the trainable prefix of the layout, so the target heads' views
    /// here point past the buffer; the backward pass never touches target heads.
    func views(of buffer: FloatBuffer, network: ILQLNetwork) -> ILQLTensors {
        if let cached = viewCache[buffer.pointer] { return cached }
        let views = network.tensors(buffer.pointer)
        viewCache[buffer.pointer] = views
        return views
    }
}

extension ILQLTrainer {
    /// The summed gradient of the batch made of `sampleIndices`, computed exactly as a training
    /// step does (micro-batches, workers, pairwise reduction) but without updating anything.
    /// For checks and benchmarks.
    public func batchGradient(sampleIndices: [Int]) throws -> (gradient: [Float], statistics: [String: Double]) {
        let computed = try computeGradients(sampleIndices: sampleIndices)
        let count = network.table.trainablePrefixCount
        AllReduce.sum(computed.buffers, chunks: AllReduce.chunks(count: count, size: Self.chunkSize))
        try processGroup.allReduceSum(computed.buffers[0], count: count)
        // Laid out like the parameters; the target heads, which get no gradient, read as zeros.
        let gradient = Array(UnsafeBufferPointer(start: computed.buffers[0], count: count))
            + [Float](repeating: 0, count: network.table.totalCount - count)
        return (gradient, computed.output.statistics(config.method, normalizer: Double(computed.normalizer)))
    }
}
