extension Array {
    /// Everything in the array, leaving it empty.
    ///
    /// Handing out a copy and then calling `removeAll(keepingCapacity: true)` looks cheaper but is not: the
    /// copy still holds the old buffer, so keeping the capacity means allocating a new buffer of that whole
    /// capacity (a fresh mapping and page faults once it is large) on every call. Taking the buffer costs
    /// nothing, and the array grows again as it is filled.
    @inlinable
    package mutating func takeAll() -> [Element] {
        var taken: [Element] = []
        swap(&taken, &self)
        return taken
    }
}
