// Cycles among a script's values: lists, records and captured variables are
// shared and mutable, so a script can make them refer to each other (a list
// appended to itself, a function reading the name that holds it), and
// reference counting alone never frees such a ring. Every container made
// while an interpreter runs is listed in that interpreter's registry, and
// the interpreter empties the ones still alive when it goes: rings that
// became unreachable during the run are freed then, not kept for the life
// of the process (which runs many scripts: `mnemo test`, the fuzzer).

/// A shared, mutable holder of values: the base of lists, records and cells.
public class ValueContainer {
    /// Neighbours in the registry's list (the registry does not own them).
    fileprivate unowned(unsafe) var previous: ValueContainer?
    fileprivate unowned(unsafe) var next: ValueContainer?
    /// Not counted (a count on one shared object per container made is
    /// measurable): the registry forgets its containers before it goes.
    fileprivate unowned(unsafe) var registry: ContainerRegistry?

    init() {
        registry = ContainerRegistry.current
        registry?.insert(self)
    }

    deinit { registry?.remove(self) }

    /// The container as a value, for `Value.releaseAll`.
    var asValue: Value { .nil }
}

/// The containers made while one interpreter ran, alive or not yet freed.
final class ContainerRegistry {
    /// Where containers made now are listed: the running interpreter's
    /// registry (one interpreter runs at a time, as its time limit and
    /// Ctrl-C flag assume), nil outside a run.
    nonisolated(unsafe) static var current: ContainerRegistry?

    private unowned(unsafe) var head: ValueContainer?

    fileprivate func insert(_ container: ValueContainer) {
        container.next = head
        head?.previous = container
        head = container
    }

    fileprivate func remove(_ container: ValueContainer) {
        if let previous = container.previous { previous.next = container.next } else { head = container.next }
        container.next?.previous = container.previous
    }

    /// Empties every container still alive, which frees the rings among
    /// them; one the host still holds lives on, empty and unlisted.
    func releaseAll() {
        var alive: [Value] = []
        var container = head
        while let c = container {
            alive.append(c.asValue)
            c.registry = nil
            container = c.next
        }
        head = nil
        Value.releaseAll(alive)
    }
}
