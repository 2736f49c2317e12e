import Synchronization
import Trellis
import TrellisCore
import TrellisExamples

// The smq workload with live output: `swift run trellis-demo [output-first|fifo|wave|threshold:N|critical-path] [count]`.

let arguments = CommandLine.arguments.dropFirst()
let policy = arguments.first.flatMap(SchedulingPolicy.init(name:)) ?? .outputFirst
let count = arguments.dropFirst().first.flatMap { Int($0) } ?? 100
let workload = SMQWorkload(count: count, size: 100, computeWidth: 2)

print("smq: \(count) acquisitions (queue 'acquire', width 1), \(count) inversions, \(count * count) products")
print("policy: \(policy); compute width \(workload.computeWidth)\n")

let clock = ContinuousClock()
let started = clock.now
let finished = Mutex(0)
let total = count * count
let scheduler = Scheduler(policy: policy)
try workload.submit(to: scheduler) { index, sum in
    let done = finished.withLock { value in
        value += 1
        return value
    }
    let elapsed = started.duration(to: clock.now)
    if done <= 5 || done % max(1, total / 10) == 0 {
        print("  \(done)/\(total) results  C[\(index)] = \(sum)  at \(elapsed)")
    }
}
let events = scheduler.events
let eventLog = Task {
    var acquisitions = 0
    for await event in events {
        if case .succeeded = event.kind, event.queue == "acquire" {
            acquisitions += 1
            if acquisitions <= 3 { print("  acquired \(event.name ?? "?")") }
        }
    }
}
scheduler.start()
do {
    try await scheduler.wait()
} catch {
    print("failed: \(error)")
}
scheduler.finishEvents()
await eventLog.value
print("\n" + scheduler.stats.description)
