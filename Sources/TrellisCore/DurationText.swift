/// Durations as written in workflow files, on the command line and in messages: `30s`, `5m`, `1h30m`,
/// `250ms`, `1.5s`, `2d`, or a bare number of seconds. The one parser and printer of durations in Trellis.
public enum DurationText {
    /// The longest duration accepted anywhere: 365 days.
    public static let maximumSeconds = 365 * 86_400
    public static let maximum: Duration = .seconds(maximumSeconds)

    /// Why a text is not a duration.
    public enum Problem: Error, Hashable, Sendable {
        /// Not of the form above.
        case malformed
        /// Longer than `maximum`.
        case tooLong
    }

    /// The duration, or `nil` when the text is malformed or longer than `maximum`.
    public static func parse(_ text: String) -> Duration? {
        try? parsing(text).get()
    }

    /// The duration, or why the text is not one.
    public static func parsing(_ text: String) -> Result<Duration, Problem> {
        let trimmed = Substring(text).drop(while: { $0 == " " || $0 == "\t" })
        let body = trimmed.reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed()
        let characters = Array(body)
        guard !characters.isEmpty else { return .failure(.malformed) }
        func isDecimal(_ character: Character) -> Bool {
            character.isASCII && (character.isNumber || character == ".")
        }
        var total = 0.0
        if characters.allSatisfy(isDecimal) {
            // Only plain decimal numbers: `Double` alone would also read `inf`, `nan`, hex and exponents.
            guard let seconds = Double(String(characters)) else { return .failure(.malformed) }
            total = seconds
        } else {
            var number = ""
            var index = 0
            while index < characters.count {
                let character = characters[index]
                if isDecimal(character) {
                    number.append(character)
                    index += 1
                    continue
                }
                guard let value = Double(number) else { return .failure(.malformed) }
                let unit: Double
                if character == "m", index + 1 < characters.count, characters[index + 1] == "s" {
                    unit = 0.001
                    index += 2
                } else {
                    switch character {
                    case "s": unit = 1
                    case "m": unit = 60
                    case "h": unit = 3600
                    case "d": unit = 86400
                    default: return .failure(.malformed)
                    }
                    index += 1
                }
                total += value * unit
                number = ""
            }
            guard number.isEmpty else { return .failure(.malformed) }
        }
        // Checked before any conversion to an integer: a huge number must be an error, not a trap.
        guard total.isFinite, total <= Double(maximumSeconds) else { return .failure(.tooLong) }
        return .success(.milliseconds(Int64((total * 1000).rounded())))
    }

    /// What to tell a user about `text`, the value of `what`, when it is not a duration.
    public static func explain(_ problem: Problem, _ text: String, what: String) -> String {
        switch problem {
        case .malformed:
            "\(what) must be a duration like 30s, 5m, 1h30m or 250ms (got '\(text)')"
        case .tooLong:
            "\(what) is longer than the longest duration allowed, 365d (got '\(text)')"
        }
    }

    /// A duration as files and flags write it, whole units largest first: `1s`, `250ms`, `1h30m`, `2d`. `parse`
    /// reads it back.
    public static func spelled(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        var rest = max(0, seconds) * 1000 + max(0, attoseconds) / 1_000_000_000_000_000
        guard rest > 0 else { return "0s" }
        var text = ""
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]
        where rest >= size {
            text += "\(rest / size)\(unit)"
            rest %= size
        }
        return text
    }

    /// `1.50s`, `12.5s`, `2m03s`, `1h02m`: short and readable.
    public static func format(_ duration: Duration) -> String {
        format(seconds: duration.seconds)
    }

    public static func format(seconds: Double) -> String {
        guard seconds.isFinite else { return "\(seconds)s" }
        if seconds < 10 { return fixed(seconds, digits: 2) + "s" }
        if seconds < 60 { return fixed(seconds, digits: 1) + "s" }
        let whole = Int(min(seconds, 1e15).rounded())
        if whole < 3600 { return "\(whole / 60)m" + padded(whole % 60) + "s" }
        return "\(whole / 3600)h" + padded((whole % 3600) / 60) + "m"
    }

    /// `value` with exactly `digits` decimals, as `%.Nf` prints it.
    static func fixed(_ value: Double, digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = Int((abs(value) * scale).rounded())
        let whole = scaled / Int(scale)
        var fraction = String(scaled % Int(scale))
        while fraction.count < digits { fraction = "0" + fraction }
        return (value < 0 && scaled != 0 ? "-" : "") + "\(whole)." + fraction
    }

    static func padded(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}

extension Duration {
    /// In seconds, as a `Double` (package-wide, so that it never collides with a user's own extension).
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
