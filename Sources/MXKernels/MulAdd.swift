// Compile-time choice between fused multiply-add and multiply-then-add.
//
// Swift's `addProduct`/`addingProduct` are fused (one rounding). On a target without FMA
// hardware (the baseline x86-64 of a portable build) LLVM lowers them to one libm `fmaf`
// call per lane, ~100× slower than a vector multiply and add. The native release build
// (Makefile: `-target-cpu native -Xswiftc -DMXQ_NATIVE_FMA`) uses FMA; any other build
// (portable release, debug/test builds) multiplies then adds. Both are correct: the
// kernels' contract is "equal to the reference up to fp32 reassociation", which bounds
// either rounding (each product+sum is one or two roundings), and within one build every
// kernel path, tile and thread count does the same arithmetic per output element.

/// How a kernel forms `acc + a·b`.
@usableFromInline protocol MulAdd {
    /// Descriptive name ("fma" or "mul+add").
    static var name: String { get }
    static func madd<V: SIMD>(_ acc: inout V, _ a: V, _ b: V) where V.Scalar == Float
    static func madd(_ acc: Float, _ a: Float, _ b: Float) -> Float
}

/// Fused multiply-add (one rounding): native builds on CPUs with FMA.
@usableFromInline enum FusedMA: MulAdd {
    @usableFromInline static var name: String { "fma" }
    @inline(__always) @usableFromInline
    static func madd<V: SIMD>(_ acc: inout V, _ a: V, _ b: V) where V.Scalar == Float { acc.addProduct(a, b) }
    @inline(__always) @usableFromInline
    static func madd(_ acc: Float, _ a: Float, _ b: Float) -> Float { acc.addingProduct(a, b) }
}

/// Multiply, then add (two roundings): portable builds (no FMA in the baseline ISA).
@usableFromInline enum SplitMA: MulAdd {
    @usableFromInline static var name: String { "mul+add" }
    @inline(__always) @usableFromInline
    static func madd<V: SIMD>(_ acc: inout V, _ a: V, _ b: V) where V.Scalar == Float { acc = acc + a * b }
    @inline(__always) @usableFromInline
    static func madd(_ acc: Float, _ a: Float, _ b: Float) -> Float { acc + a * b }
}

#if MXQ_NATIVE_FMA
/// The multiply-add of this build (FMA: built with `-DMXQ_NATIVE_FMA` for a CPU that has it).
@usableFromInline typealias BuildMA = FusedMA
#else
/// The multiply-add of this build (mul+add: built without `-DMXQ_NATIVE_FMA`).
@usableFromInline typealias BuildMA = SplitMA
#endif

@inline(__always) @usableFromInline
func madd<V: SIMD>(_ acc: inout V, _ a: V, _ b: V) where V.Scalar == Float { BuildMA.madd(&acc, a, b) }

@inline(__always) @usableFromInline
func madd(_ acc: Float, _ a: Float, _ b: Float) -> Float { BuildMA.madd(acc, a, b) }
