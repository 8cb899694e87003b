import Foundation
import Yams

extension RunConfig {
    /// The resolved config as YAML, every key explicit, in the sections and names `parse` reads:
    /// written into the run directory and every checkpoint, and loadable as a config again.
    public func yaml() throws -> String {
        func scalar(_ value: Any) -> Node {
            switch value {
            case let value as String: return Node(value, Tag(.str), .doubleQuoted)
            case let value as Bool: return Node(value ? "true" : "false")
            // Shortest forms that read back exactly: a Float's own (0.8, not 0.800000011920929).
            case let value as Double: return Node(value.description)
            case let value as Float: return Node(value.description)
            default: return Node("\(value)")
            }
        }
        func mapping(_ pairs: [(String, Node)]) -> Node { Node(pairs.map { (Node($0.0), $0.1) }) }
        func optional(_ value: Any?) -> Node { value.map(scalar) ?? Node("null") }
        let t = trainer
        var taskPairs: [(String, Node)]
        switch task {
        case .none: taskPairs = [("name", scalar("none"))]
        case let .randomWalks(graph): taskPairs = [("name", scalar("randomwalks")), ("graph", scalar(graph))]
        case let .command(command): taskPairs = [("name", scalar("command")), ("command", scalar(command))]
        }
        let prompts: Node = evalPromptsFile.map { scalar($0) } ?? Node(evalPrompts.map { scalar($0) })
        let root = mapping([
            ("train", mapping([
                ("seq_length", scalar(t.seqLength)), ("batch_size", scalar(t.batchSize)), ("epochs", scalar(t.epochs)),
                ("total_steps", scalar(t.totalSteps)), ("eval_interval", scalar(evalInterval)),
                ("checkpoint_interval", scalar(checkpointInterval)), ("checkpoint_dir", scalar(checkpointDirectory)),
                ("seed", scalar(t.seed)), ("max_grad_norm", optional(t.maxGradNorm)),
                ("keep_checkpoints", optional(keepCheckpoints)), ("on_nonfinite", scalar(t.onNonFinite.rawValue)),
            ])),
            ("model", mapping([
                ("model_path", optional(modelPath)), ("n_layer", scalar(t.model.layerCount)),
                ("n_head", scalar(t.model.headCount)), ("n_embd", scalar(t.model.width)),
                ("n_positions", scalar(t.model.maxPositions)), ("vocab_size", scalar(t.model.vocabularySize)),
            ])),
            ("tokenizer", mapping([
                ("tokenizer_path", optional(tokenizerPath)), ("alphabet", optional(alphabet)),
                ("truncation_side", scalar("right")),
            ])),
            ("optimizer", mapping([
                ("name", scalar("adamw")), ("decay_matrices_only", scalar(t.optimizer.decayMatricesOnly)),
                ("kwargs", mapping([
                    ("lr", scalar(t.optimizer.learningRate)),
                    ("betas", Node([scalar(t.optimizer.beta1), scalar(t.optimizer.beta2)], Tag(.seq), .flow)),
                    ("eps", scalar(t.optimizer.epsilon)), ("weight_decay", scalar(t.optimizer.weightDecay)),
                ])),
            ])),
            ("scheduler", mapping([
                ("name", scalar("cosine_annealing")),
                ("kwargs", mapping([("T_max", scalar(t.scheduler.tMax)), ("eta_min", scalar(t.scheduler.etaMin))])),
            ])),
            ("method", mapping([
                ("tau", scalar(t.method.tau)), ("gamma", scalar(t.method.gamma)),
                ("cql_scale", scalar(t.method.cqlScale)), ("awac_scale", scalar(t.method.awacScale)),
                ("alpha", scalar(t.method.alpha)), ("beta", scalar(t.method.beta)),
                ("steps_for_target_q_sync", scalar(t.method.stepsForTargetQSync)), ("two_qs", scalar(t.method.twoQs)),
                ("gen_kwargs", mapping([
                    ("max_new_tokens", scalar(generation.maxNewTokens)), ("top_k", scalar(generation.topK)),
                    ("beta", Node(evaluationBetas.map { scalar($0) }, Tag(.seq), .flow)),
                    ("temperature", scalar(generation.temperature)),
                ])),
            ])),
            ("parallel", mapping([
                ("workers", optional(t.parallel.workers)), ("pin", scalar(t.parallel.pin)),
                ("micro_batches", optional(t.parallel.microBatches)),
            ])),
            ("data", mapping([("train", scalar(trainData)), ("eval_prompts", prompts)])),
            ("task", mapping(taskPairs)),
        ])
        return try Yams.serialize(node: root)
    }
}
