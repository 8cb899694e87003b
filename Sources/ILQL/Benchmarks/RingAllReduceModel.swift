/// The time a ring all-reduce takes and the parallel efficiency it leaves, for projecting a
/// multi-machine run from one machine's measurements.
///
/// A ring all-reduce of S bytes over p machines sends 2(p − 1) messages of S/p bytes from each
/// machine (p − 1 steps of reduce-scatter, then p − 1 of all-gather), so with link bandwidth B
/// (bytes/s) and per-message latency α:
///
///     T_allreduce(p) = 2 (p − 1) / p · S / B  +  2 (p − 1) · α
///
/// The projection is for weak scaling, the way data parallelism grows: each machine keeps its
/// batch and its measured step time T_step (compute, in-process all-reduce, optimizer), and the
/// machines' all-reduce runs after the backward pass without overlapping it, so
///
///     efficiency(p) = T_step / (T_step + T_allreduce(p)).
public struct RingAllReduceModel: Sendable, Equatable {
    /// Link bandwidth in bits per second (10 Gb/s Ethernet: 10e9).
    public var bitsPerSecond: Double
    /// Latency per message in seconds.
    public var latency: Double

    /// A link of `bitsPerSecond` with `latency` seconds per message.
    public init(bitsPerSecond: Double, latency: Double) {
        self.bitsPerSecond = bitsPerSecond
        self.latency = latency
    }

    /// Seconds to all-reduce `bytes` over `machines` machines.
    public func seconds(bytes: Double, machines p: Int) -> Double {
        guard p > 1 else { return 0 }
        let steps = 2 * Double(p - 1)
        return steps / Double(p) * bytes / (bitsPerSecond / 8) + steps * latency
    }

    /// Parallel efficiency on `machines` machines for a step of `stepSeconds` on one.
    public func efficiency(stepSeconds: Double, bytes: Double, machines: Int) -> Double {
        stepSeconds / (stepSeconds + seconds(bytes: bytes, machines: machines))
    }
}
