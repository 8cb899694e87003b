import Foundation
import Yams

/// A problem with a config file: the file, the key path (`method.tau`), where known the line, and
/// what to change.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    /// The config's file name (or another label such as `--set`).
    public let source: String
    /// Dotted key path, empty for the whole document.
    public let key: String
    /// 1-based line in the file, when known.
    public let line: Int?
    /// What is wrong.
    public let message: String

    /// Creates an error.
    public init(source: String, key: String, line: Int? = nil, _ message: String) {
        self.source = source
        self.key = key
        self.line = line
        self.message = message
    }

    public var description: String {
        let location = line.map { "\(source):\($0)" } ?? source
        return key.isEmpty ? "\(location): \(message)" : "\(location): \(key): \(message)"
    }
}

/// A parsed YAML document as plain values with line numbers, which decoding walks while
/// recording every key it reads, so that anything left over is reported as an unknown key.
public indirect enum ConfigTree: Equatable, Sendable {
    case scalar(String, line: Int?)
    case mapping([(key: String, value: ConfigTree)], line: Int?)
    case sequence([ConfigTree], line: Int?)
    case null(line: Int?)

    public static func == (a: ConfigTree, b: ConfigTree) -> Bool {
        switch (a, b) {
        case let (.scalar(x, _), .scalar(y, _)): return x == y
        case let (.mapping(x, _), .mapping(y, _)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.sequence(x, _), .sequence(y, _)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// Parses YAML text; an empty document is an empty mapping.
    public static func parse(yaml: String, source: String) throws -> ConfigTree {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigError(source: source, key: "", "is not valid YAML (\(error))")
        }
        guard let node else { return .mapping([], line: nil) }
        return try convert(node, source: source, path: "")
    }

    private static func convert(_ node: Node, source: String, path: String) throws -> ConfigTree {
        let line = node.mark?.line
        switch node {
        case let .scalar(scalar):
            if node.null != nil, scalar.style == .plain { return .null(line: line) }
            return .scalar(scalar.string, line: line)
        case let .mapping(mapping):
            var pairs: [(key: String, value: ConfigTree)] = []
            for (keyNode, valueNode) in mapping {
                guard let key = keyNode.string else {
                    throw ConfigError(source: source, key: path, line: keyNode.mark?.line, "keys must be plain strings")
                }
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                if pairs.contains(where: { $0.key == key }) {
                    throw ConfigError(source: source, key: childPath, line: keyNode.mark?.line, "appears twice")
                }
                pairs.append((key, try convert(valueNode, source: source, path: childPath)))
            }
            return .mapping(pairs, line: line)
        case let .sequence(sequence):
            return .sequence(try sequence.map { try convert($0, source: source, path: path) }, line: line)
        case .alias:
            throw ConfigError(source: source, key: path, line: line, "YAML aliases are not supported in configs")
        }
    }

    /// The line this value starts on.
    public var line: Int? {
        switch self {
        case let .scalar(_, line), let .mapping(_, line), let .sequence(_, line), let .null(line): return line
        }
    }

    /// Sets the value at a dotted key path, creating mappings on the way (for `--set`).
    public mutating func set(_ path: [String], to value: ConfigTree) {
        guard let first = path.first else {
            self = value
            return
        }
        var pairs: [(key: String, value: ConfigTree)]
        if case let .mapping(existing, _) = self { pairs = existing } else { pairs = [] }
        if let index = pairs.firstIndex(where: { $0.key == first }) {
            pairs[index].value.set(Array(path.dropFirst()), to: value)
        } else {
            var child = ConfigTree.mapping([], line: nil)
            child.set(Array(path.dropFirst()), to: value)
            pairs.append((first, child))
        }
        self = .mapping(pairs, line: line)
    }
}

/// Reads one mapping of a config, by key, with typed accessors that name the key in every error,
/// and reports the keys it never read.
public final class ConfigReader {
    let source: String
    let path: String
    let line: Int?
    private let pairs: [(key: String, value: ConfigTree)]
    private var used: Set<String> = []

    /// A reader for `tree`, which must be a mapping (or null/absent, read as empty).
    public init(_ tree: ConfigTree?, source: String, path: String) throws {
        self.source = source
        self.path = path
        line = tree?.line
        switch tree {
        case let .mapping(pairs, _)?: self.pairs = pairs
        case .null?, nil: pairs = []
        default: throw ConfigError(source: source, key: path, line: tree?.line, "must be a mapping of keys to values")
        }
    }

    /// The dotted path of `key` in this mapping.
    public func fullKey(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The raw value of `key`, marking it read; nil when absent or null.
    public func value(_ key: String) -> ConfigTree? {
        used.insert(key)
        guard let value = pairs.first(where: { $0.key == key })?.value else { return nil }
        if case .null = value { return nil }
        return value
    }

    /// An error about `key`.
    public func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(source: source, key: fullKey(key), line: pairs.first { $0.key == key }?.value.line ?? line, message)
    }

    private func scalar(_ key: String, expected: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard case let .scalar(text, _) = value else { throw error(key, "must be \(expected)") }
        return text
    }

    /// An integer, or nil when absent.
    public func int(_ key: String) throws -> Int? {
        guard let text = try scalar(key, expected: "an integer") else { return nil }
        guard let value = Int(text) ?? Double(text).flatMap({ $0.rounded() == $0 ? Int(exactly: $0) : nil }) else {
            throw error(key, "must be an integer (got \"\(text)\")")
        }
        return value
    }

    /// A finite number, or nil when absent.
    public func double(_ key: String) throws -> Double? {
        guard let text = try scalar(key, expected: "a number") else { return nil }
        guard let value = Double(text), value.isFinite else { throw error(key, "must be a finite number (got \"\(text)\")") }
        return value
    }

    /// A boolean (`true`/`false`), or nil when absent.
    public func bool(_ key: String) throws -> Bool? {
        guard let text = try scalar(key, expected: "true or false") else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(key, "must be true or false (got \"\(text)\")")
        }
    }

    /// A string, or nil when absent.
    public func string(_ key: String) throws -> String? { try scalar(key, expected: "a string") }

    /// A list of numbers; a single number is a list of one.
    public func doubles(_ key: String) throws -> [Double]? {
        guard let value = value(key) else { return nil }
        let items: [ConfigTree]
        switch value {
        case .scalar: items = [value]
        case let .sequence(list, _): items = list
        default: throw error(key, "must be a number or a list of numbers")
        }
        return try items.map { item in
            guard case let .scalar(text, _) = item, let number = Double(text), number.isFinite else {
                throw error(key, "must be a number or a list of numbers")
            }
            return number
        }
    }

    /// A list of strings.
    public func strings(_ key: String) throws -> [String]? {
        guard let value = value(key) else { return nil }
        guard case let .sequence(list, _) = value else { throw error(key, "must be a list of strings") }
        return try list.map { item in
            guard case let .scalar(text, _) = item else { throw error(key, "must be a list of strings") }
            return text
        }
    }

    /// A nested mapping's reader (empty when absent).
    public func section(_ key: String) throws -> ConfigReader {
        try ConfigReader(value(key), source: source, path: fullKey(key))
    }

    /// Throws for the first key that was never read, unless listed in `ignored` (keys of trlx
    /// configs that have no meaning here; they are returned so the caller can mention them).
    @discardableResult
    public func finish(ignoring ignored: Set<String> = []) throws -> [String] {
        var skipped: [String] = []
        for (key, value) in pairs where !used.contains(key) {
            if ignored.contains(key) {
                skipped.append(fullKey(key))
                continue
            }
            throw ConfigError(source: source, key: fullKey(key), line: value.line,
                              "unknown key (check its spelling and section; see configs/randomwalks.yml for every key)")
        }
        return skipped
    }
}
