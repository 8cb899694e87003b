import Foundation
import ILQLParallel

extension ILQLTrainer {
    /// Gives every process of the group rank 0's state: parameters and target heads, AdamW's
    /// moments, the step and the data order. The trainer calls it once when created; call it
    /// again after changing rank 0's state (restoring a checkpoint, loading a trunk).
    ///
    /// First checks that every process loaded the same data (a fingerprint of every sample's tokens
    /// and rewards), so a rank reading another file fails here with a message instead of training
    /// on different batches.
    public func broadcastStateFromRoot() throws {
        let group = processGroup
        guard group.size > 1 else { return }
        let fingerprint = dataset.fingerprint
        let rootFingerprint = String(decoding: try group.broadcast(Array(fingerprint.utf8)), as: UTF8.self)
        // Decided together, so that no process goes on to wait for one that has stopped.
        guard try !group.any(rootFingerprint != fingerprint) else {
            throw ProcessGroupError.dataMismatch(rank: group.rank, fingerprint: fingerprint, rootFingerprint: rootFingerprint)
        }
        for buffer in [parameters, firstMoment, secondMoment] {
            try group.broadcast(buffer.pointer, byteCount: buffer.count * MemoryLayout<Float>.stride, root: 0)
        }
        let state = RunState(step: step, skippedSteps: skippedSteps, dataOrder: dataOrder)
        let received = try group.broadcast(Array(try JSONEncoder().encode(state)))
        let rootState = try JSONDecoder().decode(RunState.self, from: Data(received))
        step = rootState.step
        skippedSteps = rootState.skippedSteps
        dataOrder = rootState.dataOrder
    }

    /// Checks that every process holds exactly rank 0's parameters, target heads, AdamW moments
    /// and step: a digest of each is compared with rank 0's, and every process throws
    /// `ProcessGroupError.diverged` if any differs. `TrainingRun` checks before each checkpoint.
    public func verifyIdenticalState() throws {
        let group = processGroup
        guard group.size > 1 else { return }
        let digests = [parameters, firstMoment, secondMoment].map { digest($0.pointer, count: $0.count) } + [UInt64(step)]
        var local = [UInt8]()
        for value in digests { withUnsafeBytes(of: value.littleEndian) { local += $0 } }
        let root = try group.broadcast(local)
        guard try !group.any(root != local) else {
            throw ProcessGroupError.diverged(rank: group.rank, step: step)
        }
    }

    /// A 64-bit digest of `count` floats' bits: four independent multiply–xor lanes (fast enough
    /// to run over a gpt2-sized buffer at every checkpoint), folded at the end.
    private func digest(_ values: UnsafePointer<Float>, count: Int) -> UInt64 {
        let words = UnsafeRawPointer(values).assumingMemoryBound(to: UInt32.self)
        let prime: UInt64 = 0x0000_0100_0000_01B3
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (0xCBF2_9CE4_8422_2325, 1, 2, 3)
        var i = 0
        while i + 4 <= count {
            lanes.0 = (lanes.0 ^ UInt64(words[i])) &* prime
            lanes.1 = (lanes.1 ^ UInt64(words[i + 1])) &* prime
            lanes.2 = (lanes.2 ^ UInt64(words[i + 2])) &* prime
            lanes.3 = (lanes.3 ^ UInt64(words[i + 3])) &* prime
            i += 4
        }
        while i < count { lanes.0 = (lanes.0 ^ UInt64(words[i])) &* prime; i += 1 }
        return ((lanes.0 &* prime ^ lanes.1) &* prime ^ lanes.2) &* prime ^ lanes.3
    }

    /// What `broadcastStateFromRoot` sends besides the buffers.
    private struct RunState: Codable {
        var step: Int
        var skippedSteps: Int
        var dataOrder: DataOrder
    }
}

/// A multi-process run that cannot go on.
public enum ProcessGroupError: Error, CustomStringConvertible {
    /// Some process loaded other data than rank 0 (thrown on every process).
    case dataMismatch(rank: Int, fingerprint: String, rootFingerprint: String)
    /// Some process's parameters or optimizer state differ from rank 0's (thrown on every process).
    case diverged(rank: Int, step: Int)

    public var description: String {
        switch self {
        case let .dataMismatch(rank, fingerprint, rootFingerprint):
            return "the processes loaded different training data (rank \(rank): \(fingerprint); rank 0: \(rootFingerprint)): every process must read the same data.train file"
        case let .diverged(rank, step):
            return "at step \(step) the processes no longer hold identical parameters and optimizer state (reported by rank \(rank)); no checkpoint of this step was written"
        }
    }
}

extension OfflineDataset {
    /// Sample count and a 64-bit FNV-1a hash of every element's token ids, action and state
    /// indices, rewards and dones: equal on two processes exactly when they hold the same data.
    public var fingerprint: String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix<T>(_ values: [T]) {
            values.withUnsafeBytes { bytes in
                for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
            }
        }
        for element in elements {
            mix([Int32(element.inputIDs.count)])
            mix(element.inputIDs); mix(element.actionsIxs); mix(element.statesIxs)
            mix(element.rewards); mix(element.dones)
        }
        return "\(elements.count) samples, hash \(String(hash, radix: 16))"
    }
}
