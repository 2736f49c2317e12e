import Testing

@testable import TrellisCLI

@Suite("Line renderer")
struct RendererTests {
    /// Every line begins with the local time as HH:MM:SS.mmm, each field zero-padded to its width.
    @Test func aTimestampIsZeroPaddedToMilliseconds() {
        #expect(LineRenderer.padded(7, 3) == "007")
        #expect(LineRenderer.padded(42, 3) == "042")
        #expect(LineRenderer.padded(0, 2) == "00")
        #expect(LineRenderer.padded(59, 2) == "59")
        #expect(LineRenderer.padded(1234, 3) == "1234")
        let stamp = Array(LineRenderer.timestamp())
        #expect(stamp.count == 12, "\(String(stamp))")
        for (index, character) in stamp.enumerated() {
            switch index {
            case 2, 5: #expect(character == ":")
            case 8: #expect(character == ".")
            default: #expect(character.isASCII && character.isNumber, "\(String(stamp))")
            }
        }
    }
}

@Suite("Lines of what tasks print")
struct LogLinesTests {
    @Test func linesAreCutWholePerTaskAndStreamAndTheRestComesAtTheEnd() {
        var lines = LogLines()
        #expect(lines.take(task: 1, stream: .stdout, Array("hel".utf8)) == [])
        #expect(lines.take(task: 2, stream: .stdout, Array("other\nhalf".utf8)) == ["other"])
        #expect(lines.take(task: 1, stream: .stderr, Array("err\n".utf8)) == ["err"])
        #expect(lines.take(task: 1, stream: .stdout, Array("lo\nworld\n\nlast".utf8)) == ["hello", "world", ""])
        let rest = lines.rest()
        #expect(rest.map(\.task) == [1, 2] && rest.map(\.line) == ["last", "half"])
        #expect(lines.rest().isEmpty)
    }
}
