import MIIKernels
#if canImport(Glibc)
import Glibc
#endif

/// Facts about the machine that automatic configuration uses.
public enum Hardware {
    /// CPUs this process may run on (sched_getaffinity), at least 1.
    public static let physicalCores: Int = {
        let n = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return max(1, n)
    }()

    /// The kernel set the dispatcher chose, e.g. "avx512+vnni".
    public static var kernelSet: String { String(cString: miik_isa_name()) }
}
