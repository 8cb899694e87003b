import Foundation

/// Reads the `Any` trees `JSONSerialization` returns, for the sample reader and the tokenizer
/// files. On Linux, JSON `true`/`false` arrive as `NSNumber`s that also cast to `Double`, so
/// numbers are told from booleans by the boolean's class, never by casting.
enum JSONInspection {
    private static let booleanClass = ObjectIdentifier(type(of: NSNumber(value: true)))

    static func isBoolean(_ value: Any) -> Bool {
        guard let number = value as? NSNumber else { return false }
        return ObjectIdentifier(type(of: number)) == booleanClass
    }

    /// The value of a JSON number (not a boolean), else nil.
    ///
    /// swift-corelibs-foundation returns long numbers as `NSDecimalNumber`, whose `doubleValue`
    /// can be a few ulps off (0.20000000298023224 comes back as 0.20000000298023232); parsing its
    /// decimal text with `Double(_:)` gives the correctly rounded value.
    static func number(_ value: Any) -> Double? {
        guard let number = value as? NSNumber, !isBoolean(value) else { return nil }
        if let decimal = number as? NSDecimalNumber, let exact = Double(decimal.stringValue) { return exact }
        return number.doubleValue
    }

    /// The value of a JSON number that is a whole number within `Int64`, else nil.
    static func integer(_ value: Any) -> Int? {
        guard let number = value as? NSNumber, !isBoolean(value) else { return nil }
        let whole = number.int64Value
        guard Double(whole) == number.doubleValue, let exact = Int(exactly: whole) else { return nil }
        return exact
    }

    /// "an object", "a string", … for messages.
    static func typeName(_ value: Any) -> String {
        switch value {
        case is [String: Any]: return "an object"
        case is [Any]: return "a list"
        case is String: return "a string"
        case is NSNull: return "null"
        case _ where isBoolean(value): return "a boolean"
        case is NSNumber: return "a number"
        default: return "\(type(of: value))"
        }
    }

    /// A short rendering of a scalar value for messages (`true`, `the string "x"`, `null`).
    static func describe(_ value: Any) -> String {
        if isBoolean(value) { return (value as! NSNumber).boolValue ? "true (a boolean)" : "false (a boolean)" }
        if let text = value as? String { return "the string \"\(text.prefix(40))\"" }
        if let number = number(value) { return "\(number)" }
        return typeName(value)
    }

    /// Foundation's explanation of a parse failure, without its generic preamble and without the
    /// 0-based byte offset, which ``location(of:in:)`` turns into a line and column.
    static func detail(of error: Error) -> String {
        let text = foundationDetail(of: error)
        guard let marker = text.range(of: " around character ") else { return text }
        return String(text[..<marker.lowerBound] + text[marker.upperBound...].drop(while: \.isNumber))
    }

    private static func foundationDetail(of error: Error) -> String {
        (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? error.localizedDescription
    }

    /// The 1-based line and column (in bytes) a parse failure points at, when Foundation's message
    /// gives its byte offset ("around character N", as swift-corelibs-foundation writes it).
    static func location(of error: Error, in data: Data) -> (line: Int, column: Int)? {
        let text = foundationDetail(of: error)
        guard let marker = text.range(of: "around character ") else { return nil }
        guard let offset = Int(text[marker.upperBound...].prefix(while: \.isNumber)), offset <= data.count else {
            return nil
        }
        var line = 1, column = 1
        for byte in data.prefix(offset) {
            if byte == UInt8(ascii: "\n") { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }
}
