import Testing
import TrellisCore

/// The one vocabulary for durations and policy names, shared by workflow files, flags and messages.
@Suite("Duration and policy names")
struct DurationTextTests {
    @Test(arguments: [
        ("30s", 30_000), ("5m", 300_000), ("1h30m", 5_400_000), ("250ms", 250), ("1.5s", 1_500), ("2d", 172_800_000),
        ("1.5", 1_500), ("  10s ", 10_000), ("1m30s250ms", 90_250), ("0", 0),
    ])
    func parses(text: String, milliseconds: Int64) {
        #expect(DurationText.parse(text) == .milliseconds(milliseconds))
    }

    @Test(arguments: ["", "s", "5 parsecs", "inf", "nan", "-1s", "0x10", "1e3", "5x", "1.2.3s", "m5"])
    func refusesMalformedText(text: String) {
        #expect(DurationText.parsing(text) == .failure(.malformed))
    }

    @Test(arguments: ["366d", "9999999999999999999s", "99999999999999999999999h", "31536001"])
    func refusesWhatIsLongerThanAYear(text: String) {
        #expect(DurationText.parsing(text) == .failure(.tooLong))
    }

    @Test func theLongestDurationIsAYear() {
        #expect(DurationText.parse("365d") == DurationText.maximum)
        #expect(DurationText.parse("31536000") == DurationText.maximum)
    }

    @Test(arguments: [
        (0.0, "0.00s"), (1.5, "1.50s"), (9.999, "10.00s"), (12.5, "12.5s"), (59.94, "59.9s"), (123, "2m03s"),
        (3720, "1h02m"), (90_061, "25h01m"),
    ])
    func formatsShortAndReadable(seconds: Double, text: String) {
        #expect(DurationText.format(seconds: seconds) == text)
    }

    @Test(arguments: [
        SchedulingPolicy.outputFirst, .fifo, .wave, .threshold(3), .criticalPath,
    ])
    func aPolicyIsReadBackFromTheNameItPrints(policy: SchedulingPolicy) {
        #expect(SchedulingPolicy(name: policy.description) == policy)
    }

    @Test(arguments: ["", "FIFO", "threshold:0", "threshold:-2", "threshold:x", "fastest"])
    func unknownPolicyNames(name: String) {
        #expect(SchedulingPolicy(name: name) == nil)
    }

    @Test(arguments: [
        (Duration.seconds(1), "1s"), (.milliseconds(250), "250ms"), (.seconds(5_400), "1h30m"),
        (.seconds(172_800), "2d"), (.milliseconds(61_500), "1m1s500ms"), (.zero, "0s"),
    ])
    func aDurationIsSpelledAsFilesWriteIt(duration: Duration, text: String) {
        #expect(DurationText.spelled(duration) == text)
        #expect(DurationText.parse(text) == duration, "read back")
    }
}
