import ILQLKernels
import ILQLModel

extension ILQLNetwork {
    /// Whether the target heads are synced after optimizer step `step` (counted from 1):
    /// every `steps_for_target_q_sync` steps.
    ///
    /// Differs from trlx: trlx's current trainer checks only at epoch ends (which leaves its
    /// default sentiment run without any sync); like trlx before July 2023, its NeMo trainer and
    /// the paper, the check here follows every optimizer step (ILQL.md §8.2).
    public func syncsTargets(afterStep step: Int) -> Bool {
        ilql.stepsForTargetQSync > 0 && step % ilql.stepsForTargetQSync == 0
    }

    /// Polyak-averages every target Q head towards its online head in `parameters` (ILQL.md §4):
    /// `target ← alpha · online + (1 − alpha) · target`. alpha = 1 copies exactly.
    public func syncTargetHeads(_ parameters: UnsafeMutablePointer<Float>, alpha: Float) {
        for (spec, offset) in zip(table.specs, table.offsets) {
            guard case let .copy(of: sourceKey) = spec.initialization else { continue }
            Polyak.update(target: parameters + offset, online: parameters + table.offset(ofKey: sourceKey),
                          count: spec.count, alpha: alpha)
        }
    }
}
