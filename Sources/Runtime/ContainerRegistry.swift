// Cycles among a script's values: lists, records and captured variables are
// shared and mutable, so a script can make them refer to each other (a list
// appended to itself, a function reading the name that holds it), and
// reference counting alone never frees such a ring. Every container made
// while an interpreter runs is listed in that interpreter's registry, and
// the interpreter empties the ones still alive when it goes: rings that
// became unreachable during the run are freed then, not kept for the life
// of the process (which runs many scripts: `mnemo test`, the fuzzer).

/// A shared, mutable holder of values: the base of lists, records and cells.
/// The registry's links are `Unmanaged` and used through guaranteed
/// references: making and freeing a container counts no references.
public class ValueContainer {
    /// Neighbours in the registry's list (the registry does not own them).
    fileprivate var previous: Unmanaged<ValueContainer>?
    fileprivate var next: Unmanaged<ValueContainer>?
    /// The registry: it forgets its containers before it goes.
    fileprivate var registry: Unmanaged<ContainerRegistry>?

    init() {
        if let registry = ContainerRegistry.current {
            self.registry = registry
            registry._withUnsafeGuaranteedRef { $0.insert(self) }
        }
    }

    deinit { registry?._withUnsafeGuaranteedRef { $0.remove(self) } }

    /// The container as a value, for `Value.releaseAll`.
    var asValue: Value { .nil }
}

/// The containers made while one interpreter ran, alive or not yet freed.
final class ContainerRegistry {
    /// Where containers made now are listed: the running interpreter's
    /// registry (one interpreter runs at a time, as its time limit and
    /// Ctrl-C flag assume), nil outside a run.
    nonisolated(unsafe) static var current: Unmanaged<ContainerRegistry>?

    private var head: Unmanaged<ValueContainer>?

    fileprivate func insert(_ container: ValueContainer) {
        let link = Unmanaged.passUnretained(container)
        container.next = head
        head?._withUnsafeGuaranteedRef { $0.previous = link }
        head = link
    }

    fileprivate func remove(_ container: ValueContainer) {
        let (previous, next) = (container.previous, container.next)
        if let previous { previous._withUnsafeGuaranteedRef { $0.next = next } } else { head = next }
        next?._withUnsafeGuaranteedRef { $0.previous = previous }
    }

    /// Empties every container still alive, which frees the rings among
    /// them; one the host still holds lives on, empty and unlisted.
    func releaseAll() {
        var alive: [Value] = []
        var link = head
        while let l = link {
            let container = l.takeUnretainedValue()
            alive.append(container.asValue)
            container.registry = nil
            link = container.next
        }
        head = nil
        Value.releaseAll(alive)
    }
}
