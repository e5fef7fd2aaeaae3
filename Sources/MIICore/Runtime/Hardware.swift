import MIIKernels
#if canImport(Glibc)
import Glibc
#endif

/// Facts about the machine that automatic configuration uses.
public enum Hardware {
    /// CPUs this process may run on (sched_getaffinity), at least 1: the default thread count.
    public static var physicalCores: Int { availableCPUs }

    /// The kernel set the dispatcher chose, e.g. "avx512+vnni".
    public static var kernelSet: String { String(cString: miik_isa_name()) }

    /// Whether fast mode's 8-bit kernels have int8 dot-product instructions (AVX-512 VNNI). Without
    /// them (AVX2's two-step maddubs), the float tiles are the faster way through a prompt.
    public static var int8DotInstructions: Bool { miik_int8_dot_instructions() != 0 }

    /// The smallest token count from which fast mode's products take multi-token integer tiles with
    /// dot-product instructions (AVX-512 VNNI), or 0 without them.
    public static var vnniTileMinTokens: Int { Int(miik_vnni_tile_min_tokens()) }
}
