import HeapModule

/// The workers a `.workers` core places tasks on, and the placement classes that group its ready tasks.
///
/// Tasks with the same `Placement` form a class. A queue admits its best ready tasks into their class (as many
/// as its width allows); a class hands its best admitted task to the least-loaded worker that fits it. Each
/// class keeps the workers that could ever run it (`admitting`) and, among those, the ones with a free slot
/// (`candidates`), so a class no worker can take costs nothing until a worker joins or frees a slot.
struct WorkerPool {
    enum State: UInt8 {
        /// Takes new attempts.
        case accepting
        /// Keeps its running attempts but takes no new ones (its stream closed, or it drains).
        case draining
        /// Lost or left; its attempts have been handed back.
        case gone
    }

    struct Worker {
        var spec: WorkerSpec
        var state = State.accepting
        var running = 0
        /// Resources not held by a running attempt.
        var free: [String: Double]
        var leaseDeadline: Duration
        /// Placement classes it admits.
        var classes: [Int32] = []
        /// The attempts it runs, by task.
        var tasks: Set<Int32> = []

        var hasFreeSlot: Bool { state == .accepting && running < spec.slots }

        func hasRoom(for placement: Placement) -> Bool {
            placement.resources.allSatisfy { name, amount in (free[name] ?? 0) >= amount - 1e-9 }
        }
    }

    struct PlacementClass {
        var placement: Placement
        /// Admitted tasks, best first; entries of tasks no longer admitted (or re-ranked) are skipped.
        var ready = Heap<ReadyEntry>()
        /// Workers not gone that could run the class's tasks.
        var admitting: [Int32] = []
        /// Admitting workers with a free slot that accept work.
        var candidates: Set<Int32> = []
        /// Admitting workers that accept work (busy or not).
        var accepting = 0
        /// Ready tasks their queues set aside while no worker that accepts work could run them: they take no
        /// queue slot, so they hold up no other task. They go back to their queues when such a worker comes.
        var parked: [Int32] = []
        /// Listed in `WorkerPool.active`.
        var isActive = false
        /// No candidate had room for the class's resources at the last look; it is not looked at again until
        /// one of its workers frees something or a worker joins.
        var isBlocked = false
    }

    var leaseTimeout: Duration = .zero
    var workers: [Worker] = []
    var classes: [PlacementClass] = [PlacementClass(placement: .anywhere)]
    var classIndex: [Placement: Int32] = [.anywhere: 0]
    /// The worker of each running attempt.
    var holders: [Int32: Int32] = [:]
    /// Classes that may hold admitted tasks.
    var active: [Int32] = []
    /// Something changed that may let an admitted task start: a task was admitted, or a worker has room.
    var isDirty = false

    /// The class of `placement`, created (and matched against every worker) on first use.
    mutating func placementClass(of placement: Placement) -> Int32 {
        if let existing = classIndex[placement] { return existing }
        let id = Int32(classes.count)
        var entry = PlacementClass(placement: placement)
        for (index, worker) in workers.enumerated() where worker.state != .gone && placement.admits(worker.spec) {
            entry.admitting.append(Int32(index))
            workers[index].classes.append(id)
            if worker.hasFreeSlot { entry.candidates.insert(Int32(index)) }
            if worker.state == .accepting { entry.accepting += 1 }
        }
        classes.append(entry)
        classIndex[placement] = id
        return id
    }

    mutating func activate(_ placementClass: Int32) {
        guard !classes[Int(placementClass)].isActive else { return }
        classes[Int(placementClass)].isActive = true
        active.append(placementClass)
    }

    /// The least-loaded candidate of a class with room for its resources; ties go to more free slots, then
    /// the older worker.
    func bestWorker(for placementClass: Int32) -> Int32? {
        let entry = classes[Int(placementClass)]
        var best: Int32?
        for candidate in entry.candidates where workers[Int(candidate)].hasRoom(for: entry.placement) {
            guard let current = best else {
                best = candidate
                continue
            }
            let a = workers[Int(candidate)]
            let b = workers[Int(current)]
            // a.running / a.slots < b.running / b.slots, without division.
            let loadA = a.running * b.spec.slots
            let loadB = b.running * a.spec.slots
            let freeA = a.spec.slots - a.running
            let freeB = b.spec.slots - b.running
            if (loadA, -freeA, candidate) < (loadB, -freeB, current) { best = candidate }
        }
        return best
    }

    /// Records that `worker` runs `task` of `placementClass`.
    mutating func hold(_ task: Int32, of placementClass: Int32, on worker: Int32) {
        holders[task] = worker
        workers[Int(worker)].tasks.insert(task)
        workers[Int(worker)].running += 1
        for (name, amount) in classes[Int(placementClass)].placement.resources {
            workers[Int(worker)].free[name, default: 0] -= amount
        }
        if !workers[Int(worker)].hasFreeSlot { updateCandidacy(of: worker) }
    }

    /// Frees the slot and resources `task` held; returns its worker.
    @discardableResult
    mutating func release(_ task: Int32, of placementClass: Int32) -> Int32? {
        guard let worker = holders.removeValue(forKey: task) else { return nil }
        workers[Int(worker)].tasks.remove(task)
        workers[Int(worker)].running -= 1
        for (name, amount) in classes[Int(placementClass)].placement.resources {
            workers[Int(worker)].free[name, default: 0] += amount
        }
        updateCandidacy(of: worker)
        for placementClass in workers[Int(worker)].classes { classes[Int(placementClass)].isBlocked = false }
        isDirty = true
        return worker
    }

    /// Puts the worker in or takes it out of its classes' candidates, as its free slots say.
    mutating func updateCandidacy(of worker: Int32) {
        let isCandidate = workers[Int(worker)].hasFreeSlot
        for placementClass in workers[Int(worker)].classes {
            if isCandidate {
                classes[Int(placementClass)].candidates.insert(worker)
            } else {
                classes[Int(placementClass)].candidates.remove(worker)
            }
        }
    }

    /// Whether any worker that accepts work could ever run `placementClass`.
    func hasAcceptingWorker(for placementClass: Int32) -> Bool {
        classes[Int(placementClass)].accepting > 0
    }
}
