import Driver
import Foundation

// libFuzzer target for Mnemo, built only with MNEMO_FUZZ=1 (Fuzz/README.md).
// What an input means is FuzzHarness's (Sources/Driver/FuzzHarness.swift).

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// AddressSanitizer's defaults for this target: a freed block waits in a
/// quarantine of 64 MiB rather than 256 before reuse, so that an input that
/// churns through its budget does not take the process past libFuzzer's
/// memory limit on memory it has already freed.
@_cdecl("__asan_default_options")
public func asanDefaultOptions() -> UnsafePointer<CChar> {
    let options: StaticString = "quarantine_size_mb=64"
    return UnsafeRawPointer(options.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// libFuzzer's driver, with its usual command line (corpus folders, -runs=N, ...).
@main
struct MnemoFuzz {
    static func main() {
        setenv("MNEMO_BLAS", "none", 1)
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        let status = FuzzHarness.withBudgets {
            LLVMFuzzerRunDriver(&argc, &argv) { data, size in
                guard let data, size > 0 else { return 0 }
                FuzzHarness.run(Array(UnsafeBufferPointer(start: data, count: size)))
                return 0
            }
        }
        exit(status)
    }
}
