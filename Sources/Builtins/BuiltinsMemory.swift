import Foundation
import Graph
import Memory
import Runtime
import Syntax
import Tensor

/// Builtins for memory networks: the addressing primitives, and memories and
/// heads as values.
enum MemoryBuiltins {
    static let all: [Builtin] = [
        Builtin("cosine", "memory, key", "Cosine similarity of a key with every memory row: [N] (or [B, N] for a batch); keys of several heads, [H, W] (or [B, H, W]), give [H, N] (or [B, H, N]). A zero row or key gives 0.") { a in
            .tensor(try Addressing.cosine(try a.tensor("memory"), try a.tensor("key")))
        }.checked("cosine($(randn(6, 4)), $(randn(4)))", "cosine($(randn(2, 6, 4)), $(randn(2, 3, 4)))").inPlans(),
        Builtin("address", "memory, key, beta", "Content addressing: softmax(beta * cosine(memory, key)) over the slots.") { a in
            .tensor(try Addressing.content(try a.tensor("memory"), try a.tensor("key"), try a.tensor("beta")))
        }.checked("address($(randn(6, 4)), $(randn(4)), $(tensor(2.5)))", "address($(randn(2, 6, 4)), $(randn(2, 4)), $(tensor([1.5, 3])))",
                  "address($(randn(2, 6, 4)), $(randn(2, 3, 4)), $(tensor([[1.5, 3, 0.5], [2, 1, 4]])))", "address($(randn(6, 4)), $(randn(2, 4)), $(tensor([1.5, 3])))").inPlans(),
        Builtin("allocation", "usage", "The DNC's allocation weighting from usage [N] or [B, N]: with the slots by increasing usage (stable), a[phi_j] = (1 - u[phi_j]) * prod of the usages before it. One node; the sort's positions are constants, the gradient flows through the usages (zero-safe).") { a in
            .tensor(try Addressing.allocation(usage: try a.tensor("usage")))
        }.checked("allocation($(tensor([[0.9, 0.2, 0.5, 1.0, 0.35], [0.1, 0, 0.7, 0.45, 0.6]])))", "allocation($(tensor([0.3, 0.8, 0.05, 0.6])))").inPlans(),
        Builtin("usage_update", "usage, write, read, free_gates", "The DNC's usage after a step: u' = (u + w - u w) * psi, with w the last write weighting and the retention psi_j = prod_r (1 - f_r read[r, j]) (free gate f_r of read head r). usage and write [N] or [B, N]; read the same for one head, or [R, N] or [B, R, N] for R heads; free_gates one per head and batch row. One node.") { a in
            .tensor(try Addressing.usageUpdate(usage: try a.tensor("usage"), write: try a.tensor("write"), read: try a.tensor("read"), freeGates: try a.tensor("free_gates")))
        }.checked("usage_update($(uniform(2, 5, low: 0, high: 1)), $(softmax(randn(2, 5), 1)), $(softmax(randn(2, 3, 5), 2)), $(uniform(2, 3, low: 0, high: 1)))",
                  "usage_update($(uniform(4, low: 0, high: 1)), $(softmax(randn(4))), $(softmax(randn(4))), $(tensor(0.6)))").inPlans(),
        Builtin("write_weighting", "allocation, content, allocation_gate, write_gate", "The DNC's write weighting: write_gate * (allocation_gate * allocation + (1 - allocation_gate) * content), for weightings [N] or [B, N] (content may be [B, 1, N]) and gates with one value, or one per batch row. One node.") { a in
            .tensor(try Addressing.writeWeighting(allocation: try a.tensor("allocation"), content: try a.tensor("content"),
                                                  allocationGate: try a.tensor("allocation_gate"), writeGate: try a.tensor("write_gate")))
        }.checked("write_weighting($(softmax(randn(2, 5), 1)), $(softmax(randn(2, 1, 5), 2)), $(uniform(2, 1, low: 0, high: 1)), $(uniform(2, 1, low: 0, high: 1)))",
                  "write_weighting($(softmax(randn(2, 5), 1)), $(softmax(randn(2, 5), 1)), $(tensor(0.3)), $(tensor([0.8, 0.4])))",
                  "write_weighting($(softmax(randn(5))), $(softmax(randn(5))), $(tensor([0.7])), $(tensor(0.9)))").inPlans(),
        Builtin("read_weighting", "links, previous, content, modes", "The DNC's read weightings: each head's backward weighting b = L^T w and forward weighting f = L w from its previous weighting w, mixed with its content weighting c by its read modes: modes[0] b + modes[1] c + modes[2] f. links [N, N] or [B, N, N]; previous and content [N] (or [B, N]) for one head, [R, N] (or [B, R, N]) for R; modes the same with 3 in place of N. One node.") { a in
            .tensor(try Addressing.readWeighting(links: try a.tensor("links"), previous: try a.tensor("previous"), content: try a.tensor("content"), modes: try a.tensor("modes")))
        }.checked("read_weighting($(uniform(2, 5, 5, low: 0, high: 0.5)), $(softmax(randn(2, 3, 5), 2)), $(softmax(randn(2, 3, 5), 2)), $(softmax(randn(2, 3, 3), 2)))",
                  "read_weighting($(uniform(5, 5, low: 0, high: 0.5)), $(softmax(randn(5))), $(softmax(randn(5))), $(softmax(randn(3))))",
                  "read_weighting($(uniform(2, 4, 4, low: 0, high: 0.5)), $(softmax(randn(2, 4), 1)), $(softmax(randn(2, 4), 1)), $(softmax(randn(2, 3), 1)))").inPlans(),
        Builtin("link_update", "links, precedence, w", "The DNC's temporal links and precedence after a write w ([N] or [B, N]): L'[i, j] = (1 - w_i - w_j) L[i, j] + w_i p_j off the diagonal (0 on it), p' = (1 - sum w) p + w. Returns (L', p'), one node.") { a in
            let (links, precedence) = try Addressing.linkUpdate(links: try a.tensor("links"), precedence: try a.tensor("precedence"), write: try a.tensor("w"))
            return .tuple([.tensor(links), .tensor(precedence)])
        }.checked("link_update($(uniform(2, 4, 4, low: 0, high: 0.5)), $(softmax(randn(2, 4), 1) * 0.8), $(softmax(randn(2, 4), 1) * 0.9))",
                  "link_update($(uniform(5, 5, low: 0, high: 0.5)), $(softmax(randn(5)) * 0.7), $(softmax(randn(5))))").inPlans(),
        Builtin("interpolate", "wc, wprev, g", "Location gate: g * wc + (1 - g) * wprev, for weightings [N], [B, N], [H, N] or [B, H, N] (g: one value, or one per row).") { a in
            .tensor(try Addressing.interpolate(try a.tensor("wc"), try a.tensor("wprev"), try a.tensor("g")))
        }.checked("interpolate($(softmax(randn(6))), $(softmax(randn(6))), $(tensor(0.3)))", "interpolate($(softmax(randn(2, 6), 1)), $(softmax(randn(2, 6), 1)), $(tensor([0.2, 0.9])))",
                  "interpolate($(softmax(randn(2, 3, 6), 2)), $(softmax(randn(2, 3, 6), 2)), $(tensor([[0.2, 0.9, 0.5], [0.7, 0.1, 0.4]])))"),
        Builtin("shift", "w, s", "Circular convolution of a weighting with a shift kernel. A kernel of odd length K < N is centred: for K = 3, s[0], s[1], s[2] are offsets -1, 0, +1, and s[2] moves the focus forward (slot i to i + 1). A kernel of length N holds offsets 0..N-1.") { a in
            .tensor(try Addressing.shift(try a.tensor("w"), try a.tensor("s")))
        }.checked("shift($(softmax(randn(6))), $(softmax(randn(3))))", "shift($(softmax(randn(2, 5), 1)), $(softmax(randn(2, 5), 1)))", "shift($(softmax(randn(2, 3, 6), 2)), $(softmax(randn(2, 3, 3), 2)))"),
        Builtin("sharpen", "w, gamma", "w^gamma / sum(w^gamma), computed in log space; zeros stay zero.") { a in
            .tensor(try Addressing.sharpen(try a.tensor("w"), try a.tensor("gamma")))
        }.checked("sharpen($(softmax(randn(6))), $(tensor(2.5)))", "sharpen($(softmax(randn(2, 6), 1)), $(tensor([1.2, 6])))", "sharpen($(softmax(randn(2, 3, 6), 2)), $(tensor([[1.2, 6, 2], [3, 1.5, 2.5]])))"),
        Builtin("read", "memory, w", "The read vector sum_i w(i) M(i): [W] (or [B, W]); weightings of several heads, [H, N] (or [B, H, N]), read [H, W] (or [B, H, W]).") { a in
            .tensor(try Addressing.read(try a.tensor("memory"), try a.tensor("w")))
        }.checked("read($(randn(6, 4)), $(softmax(randn(6))))", "read($(randn(2, 6, 4)), $(softmax(randn(2, 3, 6), 2)))").inPlans(),
        Builtin("write", "memory, w, erase, add", "Erase then add: M(i) * (1 - w(i) erase) + w(i) add; erase may be nil. Several heads (w [H, N], erase and add [H, W], batch first if any): every erase, then every add. Returns the new memory.") { a in
            .tensor(try Addressing.write(try a.tensor("memory"), try a.tensor("w"), erase: try a.isAbsent("erase") ? nil : try a.tensor("erase"), add: try a.tensor("add")))
        }.checked("write($(randn(6, 4)), $(softmax(randn(6))), $(uniform(4)), $(randn(4)))", "write($(randn(6, 4)), $(softmax(randn(2, 6), 1)), $(uniform(2, 4)), $(randn(2, 4)))", "write($(randn(6, 4)), $(softmax(randn(6))), nil, $(randn(4)))").inPlans(),
        Builtin("usage", "previous, reads, writes, decay = 0.95", "LRUA usage: decay * previous + reads + writes (several heads, [H, N] or [B, H, N], are summed).") { a in
            .tensor(try Addressing.usage(try a.tensor("previous"), reads: try a.tensor("reads"), write: try a.tensor("writes"), decay: try a.float("decay")))
        }.checked("usage($(uniform(6)), $(softmax(randn(2, 6), 1)), $(softmax(randn(6))))").inPlans(),
        Builtin("least_used", "usage, n", "1 at the n least-used slots (per batch row; exactly n, ties to the lower slot), else 0. Not differentiable.") { a in
            .tensor(try Addressing.leastUsed(try a.tensor("usage"), n: try a.int("n")))
        }.notDifferentiable("an indicator of the least-used slots").inPlans(),
        Builtin("lrua_weights", "alpha, wr_prev, wlu_prev", "LRUA write weights: sigmoid(alpha) * wr_prev + (1 - sigmoid(alpha)) * wlu_prev; for several heads, wr_prev [H, N] (or [B, H, N]) and alpha [H] (or [B, H]).") { a in
            .tensor(try Addressing.lruaWeights(try a.tensor("alpha"), readPrevious: try a.tensor("wr_prev"), leastUsedPrevious: try a.tensor("wlu_prev")))
        }.checked("lrua_weights($(randn(1)), $(softmax(randn(6))), $(softmax(randn(6))))", "lrua_weights($(randn(2, 3)), $(softmax(randn(2, 3, 5), 2)), $(softmax(randn(2, 5), 1)))").inPlans(),
        Builtin("zero_least_used", "memory, usage", "The memory with its least-used slot (by usage) set to zero.") { a in
            .tensor(try Addressing.zeroLeastUsed(try a.tensor("memory"), usage: try a.tensor("usage")))
        }.checked("zero_least_used($(randn(6, 4)), tensor([0.5, 0.1, 0.9, 0.3, 0.7, 0.8]))").inPlans(),
        Builtin("lrua_write", "memory, key, alpha, wr_prev, usage_prev, n", "One LRUA write: zero the least-used slot, then add key with the LRUA weights (least used taken as the n smallest). Returns (memory, write weights).") { a in
            let (m, w) = try Addressing.lruaWrite(try a.tensor("memory"), key: try a.tensor("key"), alpha: try a.tensor("alpha"), readPrevious: try a.tensor("wr_prev"),
                                                  usagePrevious: try a.tensor("usage_prev").value, reads: try a.int("n"))
            return .tuple([.tensor(m), .tensor(w)])
        }.checked("lrua_write($(randn(6, 4)), $(randn(4)), $(randn(1)), $(softmax(randn(6))), tensor([0.5, 0.1, 0.9, 0.3, 0.7, 0.8]), 1)[0]"),
        Builtin("head_layout", "width, shifts", "Where each parameter of an NTM head sits in the raw vector its controller emits, for a memory of this width and a shift kernel of this length: {key: [start, end], beta, gate, shift: [start, end], gamma, erase: [start, end], add: [start, end], read_size, write_size} (the one definition address_from and write_from use).") { a in
            let width = try a.int("width"), shifts = try a.int("shifts")
            guard width >= 1, shifts >= 1, width <= Tensor.maxElements, shifts <= Tensor.maxElements else {
                throw RuntimeError("head_layout: width and shifts must be at least 1, got \(width) and \(shifts)")
            }
            let h = Addressing.HeadLayout(width: width, shifts: shifts)
            func span(_ r: Range<Int>) -> Value { .list(ListBox([.number(Double(r.lowerBound)), .number(Double(r.upperBound))])) }
            return .record(Record(names: ["key", "beta", "gate", "shift", "gamma", "erase", "add", "read_size", "write_size"],
                                  values: [span(h.key), .number(Double(h.beta)), .number(Double(h.gate)), span(h.shift), .number(Double(h.gamma)),
                                           span(h.erase), span(h.add), .number(Double(h.readSize)), .number(Double(h.writeSize))]))
        }.notDifferentiable("sizes, not values").inPlans(),
        Builtin("memory", "slots, width, init = 1e-6, batch = nil, trace = true", "An external memory of slots x width (a batch of them with batch: B). init: a number (constant), \"random\" (N(0, 0.1) at each reset) or \"learned\" (a parameter). Methods: read, write, lrua_write, reset, set; fields: contents, trace.") { a in
            let slots = try a.int("slots"), width = try a.int("width")
            let initialisation: MemoryBank.Initialisation
            switch try a["init"] {
            case .number(let v): initialisation = .constant(Float(v))
            case .string("random"): initialisation = .random(0.1)
            case .string("learned"): initialisation = .learned(Variable.parameter(try Tensor.randn([slots, width], a.interpreter.random, std: 0.01)))
            default: throw RuntimeError("memory: init must be a number, \"random\" or \"learned\"")
            }
            let bank = try MemoryBank(slots: slots, width: width, batch: try a.optionalInt("batch"), initialisation: initialisation,
                                      tracing: try a.bool("trace"), random: a.interpreter.random)
            return .object(MemoryObject(bank))
        }.notDifferentiable("makes a memory object"),
        Builtin("head", "memory, shifts = 3, index = 0", "An NTM head on a memory: it keeps its previous weighting (focused on slot 0 at the start of each sequence) and its shift range (a kernel of `shifts` offsets). h.address(key, beta, g, s, gamma) runs content, interpolation, shift and sharpening.") { a in
            guard case .object(let o) = try a["memory"], let m = o as? MemoryObject else { throw a.wrong("memory", "a memory") }
            return .object(HeadObject(try Head(memory: m.bank, shiftKernel: try a.int("shifts"), index: try a.int("index"))))
        }.notDifferentiable("makes a head object"),
    ]
}

final class MemoryObject: NativeObject {
    let bank: MemoryBank
    init(_ bank: MemoryBank) { self.bank = bank }

    var kindName: String { "memory" }
    var memberNames: [String] { ["contents", "slots", "width", "batch", "trace", "trace_contents"] + methods.names }
    var children: [Value] {
        if case .learned(let v) = bank.initialisation { return [.tensor(v)] }
        return []
    }

    var summary: String {
        let c = bank.contents.value
        let mean = c.data.reduce(0, +) / Float(max(c.count, 1))
        let spread = (c.data.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(max(c.count, 1))).squareRoot()
        let reads = bank.accesses.filter { !$0.isWrite }.count, writes = bank.accesses.count - reads
        let initText: String
        switch bank.initialisation {
        case .constant(let v): initText = "constant \(Tensor.formatScalar(v))"
        case .random: initText = "random"
        case .learned: initText = "learned"
        }
        return "<memory \(bank.slots) x \(bank.width)\(bank.batch.map { ", batch \($0)" } ?? ""), init \(initText); "
            + String(format: "contents mean %.4g, std %.4g; trace: %d reads, %d writes>", mean, spread, reads, writes)
    }

    lazy var methods: Methods = {
        let bank = self.bank
        return Methods([
            Builtin("read", "w, head = 0", "Reads with weighting w (several heads: [H, N] or [B, H, N], traced as heads head, head + 1, ...); records it in the trace.") { a in
                .tensor(try bank.read(try a.tensor("w"), head: try a.int("head")))
            }.inPlans(),
            Builtin("write", "w, erase = nil, add = nil, head = 0, usage = nil", "Erase then add with weighting w (several heads at once as for write); records it in the trace. usage: the usage an LRUA write chose its slots by, kept in the trace for the memory view (show(mem)).") { a in
                guard try !a.isAbsent("add") else { throw RuntimeError("write needs an add vector (add: ...)") }
                let usage = try a.isAbsent("usage") ? nil : try a.tensor("usage")
                if let u = usage, u.shape.last != bank.slots {
                    throw RuntimeError("write: usage must have one value per slot (\(bank.slots)), got shape \(Tensor.shapeText(u.shape))")
                }
                try bank.write(try a.tensor("w"), erase: try a.isAbsent("erase") ? nil : try a.tensor("erase"), add: try a.tensor("add"), head: try a.int("head"), usage: usage)
                return .nil
            }.inPlans(),
            Builtin("lrua_write", "key, alpha, wr_prev, usage_prev, n, head = 0", "An LRUA write (zero the least-used slot, add key with the LRUA weights); returns the write weights.") { a in
                .tensor(try bank.lruaWrite(key: try a.tensor("key"), alpha: try a.tensor("alpha"), readPrevious: try a.tensor("wr_prev"),
                                           usagePrevious: try a.tensor("usage_prev").value, reads: try a.int("n"), head: try a.int("head")))
            },
            Builtin("reset", "", "Back to the initial contents, with an empty trace.") { _ in
                try bank.reset(); return .nil
            }.inPlans(),
            Builtin("set", "contents", "Replaces the contents (same shape), e.g. after a write composed from basic ops.") { a in
                try bank.set(try a.tensor("contents")); return .nil
            }.inPlans(),
            Builtin("save_trace", "path", "Writes the trace as a CSV table (kind, step, head, row, slot0...), atomically.") { a in
                let path = try a.string("path")
                do { try SafeFile.write(Array(bank.traceTable().utf8), to: path) }
                catch { throw RuntimeError("\(error)") }
                return .nil
            },
        ])
    }()

    func member(_ name: String, _ interpreter: Interpreter) throws -> Value? {
        switch name {
        case "contents": return .tensor(bank.readContents)
        case "slots": return .number(Double(bank.slots))
        case "width": return .number(Double(bank.width))
        case "batch": return bank.batch.map { .number(Double($0)) } ?? .nil
        case "trace_contents": return .bool(bank.tracingContents)
        case "trace":
            // Tensors made from the trace, not by ops: a kernel plan would keep the traced ones.
            Graph.planRecorder?.fail("a memory's trace is read in the function")
            let (reads, readHeads) = try bank.traced(writes: false)
            let (writes, writeHeads) = try bank.traced(writes: true)
            return .record(Record(names: ["reads", "writes", "read_heads", "write_heads", "contents"], values: [
                .tensor(Variable(reads)), .tensor(Variable(writes)),
                .list(ListBox(readHeads.map { .number(Double($0)) })), .list(ListBox(writeHeads.map { .number(Double($0)) })),
                .list(ListBox(bank.snapshots.map { .tensor(Variable($0)) })),
            ]))
        default: return nil
        }
    }

    func setMember(_ name: String, _ value: Value) throws -> Bool {
        guard name == "trace_contents" else { return false }
        guard case .bool(let b) = value else { throw RuntimeError("trace_contents must be true or false") }
        bank.tracingContents = b
        return true
    }
}

final class HeadObject: NativeObject {
    let head: Head
    init(_ head: Head) { self.head = head }

    var kindName: String { "head" }
    var memberNames: [String] { ["prev", "shifts", "memory", "index"] + methods.names }
    var summary: String {
        let p = head.previous.value
        let focus = p.data.isEmpty ? 0 : p.data.indices.max { p.data[$0] < p.data[$1] }! % head.memory.slots
        return "<head \(head.index) on a \(head.memory.slots) x \(head.memory.width) memory, shifts \(head.shiftKernel), previous focus at slot \(focus)>"
    }

    lazy var methods: Methods = {
        let head = self.head
        return Methods([
            Builtin("reset", "", "The previous weighting back to its start, focused on slot 0.") { _ in head.reset(); return .nil }.inPlans(),
            Builtin("address", "key, beta, g, s, gamma", "NTM addressing: content (key, beta), interpolation with the previous weighting (g), shift (s), sharpening (gamma). Keeps and returns the weighting.") { a in
                .tensor(try head.address(key: try a.tensor("key"), beta: try a.tensor("beta"), gate: try a.tensor("g"), shift: try a.tensor("s"), gamma: try a.tensor("gamma")))
            },
            Builtin("address_from", "p", "NTM addressing from the head's raw parameters p (the controller's output for it): key p[0:W], beta softplus, g sigmoid, s softmax over the shifts, gamma 1 + softplus, in that order, as in the paper; later values (erase, add) are ignored. One graph node; equal to ntm.head_params followed by address.") { a in
                .tensor(try head.addressFromParameters(try a.tensor("p")))
            }.inPlans(),
            Builtin("write_from", "p", "A write head's step from its raw parameters p: address_from(p), then write to the head's memory with erase = sigmoid and add = tanh of the W values each after the addressing ones (as ntm.erase_add). Records the write in the trace; returns the weighting. Equal to address_from, slicing and activating p with basic ops, and the memory's write.") { a in
                .tensor(try head.writeFromParameters(try a.tensor("p")))
            }.inPlans(),
        ])
    }()

    func member(_ name: String, _ interpreter: Interpreter) throws -> Value? {
        switch name {
        case "prev": return .tensor(head.readPrevious)
        case "shifts": return .number(Double(head.shiftKernel))
        case "index": return .number(Double(head.index))
        case "memory": return .object(MemoryObject(head.memory))
        default: return nil
        }
    }
}
