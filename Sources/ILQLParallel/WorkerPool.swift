import Foundation

/// Long-lived worker threads, each pinned to one core, that run the same job together.
///
/// `run` hands a job to every worker and returns when all have finished it. Between jobs the
/// workers sleep on a condition variable; nothing spins, so a pool never competes with other
/// work for cores while idle. Each worker binds itself to core `(firstCore + index) % coreCount` when it
/// starts (cores, not hyperthreads); where the system refuses binding, one warning is printed and
/// the workers run unpinned. More workers than cores is allowed, with a warning.
public final class WorkerPool: @unchecked Sendable {
    /// Number of worker threads.
    public let workerCount: Int
    private let state: SharedState

    /// Starts `workers` threads.
    ///
    /// - Parameters:
    ///   - workers: at least 1.
    ///   - pin: bind each worker to a core (default); unpinned workers float freely.
    ///   - firstCore: the core of worker 0 (the others follow); several processes sharing a
    ///     machine give each its own cores this way.
    ///   - topology: where the cores come from (nil: no binding is attempted).
    ///   - setUp: runs once in each worker thread after binding, before any job: the place to
    ///     allocate per-worker buffers (first touch puts their pages near the worker's core) and
    ///     to set thread-local library state such as OpenBLAS's thread count.
    public init(workers: Int, pin: Bool = true, firstCore: Int = 0, topology: Topology? = try? Topology.shared,
                setUp: @escaping (Int) -> Void = { _ in }) {
        precondition(workers >= 1, "a worker pool needs at least one worker")
        workerCount = workers
        state = SharedState(workers: workers)
        if pin, let topology, workers > topology.coreCount {
            BindingWarnings.warnOnce(.moreWorkersThanCores,
                "\(workers) workers on \(topology.coreCount) cores: workers share cores (worker i runs on core i mod \(topology.coreCount))")
        }
        for index in 0..<workers {
            // Threads hold the shared state, not the pool, so releasing the pool stops them.
            let thread = Thread { [state] in
                state.workerLoop(index: index, core: firstCore + index, pin: pin, topology: topology, setUp: setUp)
            }
            thread.name = "ilql-worker-\(index)"
            thread.stackSize = 8 << 20
            thread.start()
        }
        state.waitUntilStarted()
    }

    deinit { state.stop() }

    /// Stops the worker threads (also done when the pool is released).
    public func shutdown() { state.stop() }

    /// Runs `body(workerIndex)` on every worker and returns when all have returned.
    /// Not reentrant: call it from one coordinating thread at a time.
    public func run(_ body: @escaping (Int) -> Void) { state.run(body) }

    /// The logical core each worker last ran on (hwloc's last CPU location after its last job),
    /// or nil where the system does not tell.
    public var lastCores: [Int?] { state.locked { state.cores } }

    /// How each worker's binding went (nil when pinning was off or no topology was given).
    public var bindingResults: [BindingResult?] { state.locked { state.bindings } }

    /// Called in each worker before its part of every job; tests use it to inject random delays.
    /// Set it only while no job runs.
    public var beforeEachJob: ((Int) -> Void)? {
        get { state.locked { state.beforeEachJob } }
        set { state.locked { state.beforeEachJob = newValue } }
    }
}

/// Everything the coordinator and the workers share, guarded by one condition variable.
private final class SharedState: @unchecked Sendable {
    let workerCount: Int
    let condition = NSCondition()
    var job: ((Int) -> Void)?
    var generation = 0
    var pending = 0
    var stopping = false
    var startedWorkers = 0
    var cores: [Int?]
    var bindings: [BindingResult?]
    var beforeEachJob: ((Int) -> Void)?

    init(workers: Int) {
        workerCount = workers
        cores = Array(repeating: nil, count: workers)
        bindings = Array(repeating: nil, count: workers)
    }

    func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }

    func waitUntilStarted() {
        condition.lock()
        while startedWorkers < workerCount { condition.wait() }
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    func run(_ body: @escaping (Int) -> Void) {
        condition.lock()
        precondition(!stopping, "the worker pool has been shut down")
        job = body
        pending = workerCount
        generation += 1
        condition.broadcast()
        while pending > 0 { condition.wait() }
        job = nil
        condition.unlock()
    }

    func workerLoop(index: Int, core: Int, pin: Bool, topology: Topology?, setUp: (Int) -> Void) {
        var binding: BindingResult?
        if pin, let topology {
            binding = topology.bindCurrentThread(toCore: core)
            if case let .refused(reason) = binding {
                BindingWarnings.warnOnce(.bindingRefused, "cannot pin worker threads to cores (\(reason)); running unpinned")
            }
        }
        setUp(index)
        condition.lock()
        bindings[index] = binding
        startedWorkers += 1
        condition.broadcast()
        var seen = 0
        while true {
            while generation == seen && !stopping { condition.wait() }
            if stopping { break }
            seen = generation
            let body = job!
            let hook = beforeEachJob
            condition.unlock()

            hook?(index)
            body(index)
            let core = topology?.lastCPULocation().flatMap { topology?.coreIndex(ofProcessingUnit: $0) }

            condition.lock()
            cores[index] = core
            pending -= 1
            if pending == 0 { condition.broadcast() }
        }
        condition.unlock()
    }
}
