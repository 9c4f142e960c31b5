import Foundation
import Runtime
import Syntax

extension BuiltinRegistry {
    /// Every builtin of the standard library.
    public static func standard() -> BuiltinRegistry {
        let r = BuiltinRegistry()
        // The core builtins work on numbers, strings and lists, not tensors.
        r.add(CoreBuiltins.all.map { b in
            if case .undeclared = b.gradients { return b.notDifferentiable("not a tensor operation") }
            return b
        })
        r.add(TensorBuiltins.all)
        r.add(OrderBuiltins.all)
        r.add(GraphBuiltins.all)
        r.add(MemoryBuiltins.all)
        r.add(FigureBuiltins.all)
        r.add(CheckpointBuiltins.all)
        r.add(ProgressBuiltins.all)
        r.add(FileBuiltins.all)
        r.add(TrialBuiltins.all)
        r.addFormerNames([("leastused", "least_used"), ("lruaweights", "lrua_weights"), ("lruawrite", "lrua_write"),
                          ("zeroleastused", "zero_least_used"), ("onehot", "one_hot"), ("crossentropy", "cross_entropy")])
        return r
    }
}

extension Interpreter {
    /// An interpreter with the standard library's builtins.
    public convenience init(stdlibDirectory: String? = ModuleLoader.findStdlib(), output: ((String) -> Void)? = nil) {
        self.init(builtins: .standard(), stdlibDirectory: stdlibDirectory, output: output)
    }
}
