import Foundation
import Tensor

/// What the recorded graph behind a value does: its ops by kind, how many
/// of each, their forward floating-point operations (estimated per op when
/// it was recorded) and the values they hold, so that a user can see where
/// a step's time and memory go (`graph(loss)`, `mnemo run --graph`).
public struct GraphProfile {
    public struct Row {
        public let op: String
        public internal(set) var count = 0
        public internal(set) var flops = 0
        /// Bytes of the op's outputs, which the graph keeps until its backward pass.
        public internal(set) var bytes = 0
        /// The output shape of the first op of this kind met.
        public let shape: [Int]

        public init(op: String, count: Int, flops: Int, bytes: Int, shape: [Int]) {
            self.op = op
            self.count = count
            self.flops = flops
            self.bytes = bytes
            self.shape = shape
        }
    }

    /// Most floating-point operations first.
    public let rows: [Row]
    public let nodes: Int
    public let flops: Int
    public let bytes: Int

    /// The graph that computed `value` (empty for a constant): every node it
    /// reaches, parameters included, each counted once.
    public init(of value: Variable) {
        var byOp: [String: Row] = [:]
        var seen = Set<ObjectIdentifier>()
        var stack = value.node.map { [$0] } ?? []
        while let node = stack.popLast() {
            guard seen.insert(ObjectIdentifier(node)).inserted else { continue }
            let name = node.op.description
            var row = byOp[name] ?? Row(op: name, count: 0, flops: 0, bytes: 0, shape: node.shape)
            row.count += 1
            row.flops += node.flops
            row.bytes += 4 * ([node.shape] + node.otherShapes).reduce(0) { $0 + $1.reduce(1, *) }
            byOp[name] = row
            for case let input? in node.inputs { stack.append(input) }
        }
        self.init(rows: Array(byOp.values), nodes: seen.count)
    }

    /// A profile of given rows (a compiled plan's steps by kind), sorted as a graph's.
    public init(rows unsorted: [Row], nodes: Int) {
        rows = unsorted.sorted { ($0.flops, $0.count, $1.op) > ($1.flops, $1.count, $0.op) }
        self.nodes = nodes
        flops = rows.reduce(0) { $0 + $1.flops }
        bytes = rows.reduce(0) { $0 + $1.bytes }
    }

    /// Every node recorded adds its forward FLOPs here, so that a compiled
    /// plan can tell what each of its steps recorded.
    nonisolated(unsafe) public internal(set) static var recordedFlops = 0

    /// A count with a metric prefix: "220 FLOP", "6.45 MFLOP", "828 kB".
    public static func amount(_ n: Int, _ unit: String) -> String {
        let prefixes: [(Double, String)] = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (scale, prefix) in prefixes where Double(n) >= scale {
            return String(format: "%.3g %@%@", Double(n) / scale, prefix, unit)
        }
        return "\(n) \(unit)"
    }

    /// The profile as a table.
    public var text: String {
        table(head: "graph: \(nodes) nodes, \(GraphProfile.amount(flops, "FLOP")) forward (the backward pass about twice that), \(GraphProfile.amount(bytes, "B")) of values held", kind: "op", held: "held")
    }

    /// The rows as a table under `head`; `kind` and `held` name the first and the bytes column.
    public func table(head: String, kind: String, held: String) -> String {
        guard !rows.isEmpty else { return head }
        let width = max(8, rows.map(\.op.count).max() ?? 0)
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, n - s.count))
            return left ? s + fill : fill + s
        }
        var lines = [head, pad(kind, width, left: true) + pad("count", 8) + pad("forward", 14) + pad("share", 8) + pad(held, 11) + "  shape"]
        for r in rows {
            let share = flops > 0 ? String(format: "%.1f%%", 100 * Double(r.flops) / Double(flops)) : "-"
            lines.append(pad(r.op, width, left: true) + pad("\(r.count)", 8) + pad(GraphProfile.amount(r.flops, "FLOP"), 14) + pad(share, 8)
                         + pad(GraphProfile.amount(r.bytes, "B"), 11) + "  " + Tensor.shapeText(r.shape))
        }
        return lines.joined(separator: "\n")
    }
}
