/// One linear pass over JSON text that finds where string values of some keys are written, for error
/// positions; the decoding itself is JSONDecoder's.
enum JSONPositions {
    /// Each string value of one of `keys` (as in `"id": "value"`), by its text, to the byte offset of its
    /// first occurrence. Values written with escapes are left out.
    static func stringValues(ofKeys keys: Set<String>, in bytes: UnsafeRawBufferPointer) -> [String: Int] {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\"), colon = UInt8(ascii: ":")
        let keyBytes = Set(keys.map { Array($0.utf8) })
        var found: [String: Int] = [:]
        var index = 0
        let count = bytes.count
        /// The last string, if it was one of `keys` and was followed by a colon.
        var wantValue = false
        var lastString: Range<Int>?
        var lastEscaped = false
        while index < count {
            let byte = bytes[index]
            if byte == quote {
                let start = index + 1
                var end = start
                var escaped = false
                while end < count && bytes[end] != quote {
                    if bytes[end] == backslash {
                        escaped = true
                        end += 1
                    }
                    end += 1
                }
                if wantValue && !escaped && end <= count {
                    let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
                    if found[value] == nil { found[value] = start - 1 }
                    wantValue = false
                } else {
                    wantValue = false
                }
                lastString = start..<min(end, count)
                lastEscaped = escaped
                index = end + 1
                continue
            }
            if byte == colon, let key = lastString {
                wantValue = !lastEscaped && keyBytes.contains(Array(bytes[key]))
                lastString = nil
            } else if byte > 0x20 {
                lastString = nil
                wantValue = wantValue && (byte == colon)
            }
            index += 1
        }
        return found
    }
}
