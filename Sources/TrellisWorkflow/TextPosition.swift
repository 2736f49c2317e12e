internal import TrellisCore

/// Byte offsets in a file's text turned into the 1-based line and column a reader looks for.
enum TextPosition {
    /// The line and column (in Unicode scalars, as YAML counts) of byte `offset`.
    static func lineAndColumn(of offset: Int, in bytes: UnsafeRawBufferPointer) -> (line: Int, column: Int) {
        let end = min(max(0, offset), bytes.count)
        var line = 1
        var lineStart = 0
        for index in 0..<end where bytes[index] == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
        }
        // Continuation bytes (10xxxxxx) do not start a scalar.
        var column = 1
        for index in lineStart..<end where bytes[index] & 0b1100_0000 != 0b1000_0000 { column += 1 }
        return (line, column)
    }

    static func location(of offset: Int, in bytes: UnsafeRawBufferPointer, file: String) -> SourceLocation {
        let (line, column) = lineAndColumn(of: offset, in: bytes)
        return SourceLocation(file: file, line: line, column: column)
    }

    /// The locations of many offsets in one pass over the text, not one pass each: a file of n tasks, each
    /// with a position, costs O(file + n log n) rather than O(file × n).
    static func locations(
        of offsets: some Sequence<Int>, in bytes: UnsafeRawBufferPointer, file: String
    ) -> [Int: SourceLocation] {
        let sorted = Set(offsets.map { min(max(0, $0), bytes.count) }).sorted()
        var result: [Int: SourceLocation] = [:]
        result.reserveCapacity(sorted.count)
        var index = 0
        var line = 1
        var column = 1
        for offset in sorted {
            while index < offset {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\n") {
                    line += 1
                    column = 1
                } else if byte & 0b1100_0000 != 0b1000_0000 {
                    column += 1
                }
                index += 1
            }
            result[offset] = SourceLocation(file: file, line: line, column: column)
        }
        return result
    }

    /// The offset of the first byte that is not part of well-formed UTF-8, or `nil` when all of it is.
    static func firstInvalidUTF8(in bytes: UnsafeRawBufferPointer) -> Int? {
        var index = 0
        let count = bytes.count
        while index < count {
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var lower: UInt8 = 0x80
            var upper: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                lower = 0xA0  // no overlong forms
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                upper = 0x9F  // no surrogates
            case 0xF0:
                length = 4
                lower = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                upper = 0x8F  // nothing past U+10FFFF
            default: return index
            }
            guard index + length <= count else { return index }
            let second = bytes[index + 1]
            guard second >= lower && second <= upper else { return index }
            for next in 2..<length where bytes[index + next] & 0b1100_0000 != 0b1000_0000 { return index }
            index += length
        }
        return nil
    }
}
