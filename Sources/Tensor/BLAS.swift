#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The matrix-product backend, chosen once at run time: a system CBLAS when
/// one can be loaded (OpenBLAS first), otherwise Mnemo's own kernels. Nothing
/// is linked at build time, so a machine without BLAS builds and runs Mnemo;
/// one with it runs the products on kernels chosen for its CPU.
///
/// `MNEMO_BLAS` decides: unset or empty searches the usual library names;
/// `none` (or `own`) forces the own kernels; anything else is a library name
/// or path to load, falling back to the own kernels if it cannot be.
public enum MatrixBackend {
    /// How products are computed in this process, e.g. "OpenBLAS (libopenblas.so.0)".
    public static var description: String {
        if let blas { return "\(blas.vendor) (\(blas.library))" }
        let choice = requested.lowercased()
        return ["", "none", "own", "0", "off"].contains(choice) ? "own kernels" : "own kernels (MNEMO_BLAS=\(requested) could not be loaded)"
    }

    static let requested = getenv("MNEMO_BLAS").map { String(cString: $0) } ?? ""

    /// Whether a system BLAS is in use.
    public static var usesBLAS: Bool { blas != nil }

    /// The libraries tried, in order, when MNEMO_BLAS is unset: OpenBLAS's
    /// names, BLIS's, MKL's, then the generic names (used only when they lead
    /// to one of those, as Debian's libblas.so.3 alternative may).
    static let searchList = ["libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0", "libblis.so.4",
                             "libblis.so", "libmkl_rt.so.2", "libmkl_rt.so", "libcblas.so.3", "libblas.so.3", "libblas.so"]

    typealias SgemmFunction = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Float,
                                              UnsafePointer<Float>, Int32, UnsafePointer<Float>, Int32,
                                              Float, UnsafeMutablePointer<Float>, Int32) -> Void
    typealias SgemvFunction = @convention(c) (Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>, Int32,
                                              UnsafePointer<Float>, Int32, Float, UnsafeMutablePointer<Float>, Int32) -> Void
    typealias SetThreadsFunction = @convention(c) (Int32) -> Void

    struct Library {
        let library: String
        let vendor: String
        let sgemm: SgemmFunction
        let sgemv: SgemvFunction
    }

    // CBLAS's enumeration values (cblas.h).
    static let rowMajor: Int32 = 101, noTrans: Int32 = 111, trans: Int32 = 112

    /// For tests: the own kernels even where a BLAS was loaded.
    nonisolated(unsafe) public static var useOwnKernels = false

    /// The BLAS products go to now; nil means the own kernels.
    static var active: Library? { useOwnKernels ? nil : blas }

    /// Loaded on first use; nil means the own kernels.
    static let blas: Library? = {
        let choice = requested
        switch choice.lowercased() {
        case "none", "own", "0", "off": return nil
        // Searching, only an optimized BLAS will do: the reference CBLAS (what
        // a bare libblas.so.3 often is) is slower than the own kernels.
        case "": return searchList.lazy.compactMap { load($0) }.first { $0.vendor != "CBLAS" }
        default: return load(choice)
        }
    }()

    /// Loads a CBLAS; its vendor is told by a symbol only that vendor has.
    private static func load(_ name: String) -> Library? {
        guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else { return nil }
        guard let gemm = dlsym(handle, "cblas_sgemm"), let gemv = dlsym(handle, "cblas_sgemv") else {
            dlclose(handle)
            return nil
        }
        var vendor = "CBLAS"
        // One thread: a model's products are small, and results stay reproducible run to run.
        if let setThreads = dlsym(handle, "openblas_set_num_threads") {
            unsafeBitCast(setThreads, to: SetThreadsFunction.self)(1)
            vendor = "OpenBLAS"
        } else if let setThreads = dlsym(handle, "bli_thread_set_num_threads") {
            unsafeBitCast(setThreads, to: (@convention(c) (Int) -> Void).self)(1)
            vendor = "BLIS"
        } else if let setThreads = dlsym(handle, "MKL_Set_Num_Threads") {
            unsafeBitCast(setThreads, to: (@convention(c) (Int32) -> Void).self)(1)
            vendor = "MKL"
        }
        return Library(library: name, vendor: vendor, sgemm: unsafeBitCast(gemm, to: SgemmFunction.self),
                       sgemv: unsafeBitCast(gemv, to: SgemvFunction.self))
    }
}
