// BLASKernelTests.swift: the warning for an OpenBLAS kernel older than the CPU, which OpenBLAS
// falls back to on CPU models it does not recognise.

@testable import ILQLKernels
import XCTest

final class BLASKernelTests: XCTestCase {
    func testWarnsOnlyWhenTheKernelIsOlderThanTheCPU() throws {
        let avx512 = try XCTUnwrap(BLAS.slowKernelWarning(core: "Prescott", cpuVectorLevel: 2))
        XCTAssertTrue(avx512.contains("Prescott kernel on a CPU with AVX-512"), avx512)
        XCTAssertTrue(avx512.contains("OPENBLAS_CORETYPE=SkylakeX"), avx512)
        let avx2 = try XCTUnwrap(BLAS.slowKernelWarning(core: "Sandybridge", cpuVectorLevel: 1))
        XCTAssertTrue(avx2.contains("OPENBLAS_CORETYPE=Haswell") && !avx2.contains("SkylakeX"), avx2)
        for core in ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"] {
            XCTAssertNil(BLAS.slowKernelWarning(core: core, cpuVectorLevel: 2), core)
        }
        // A CPU without AVX2 (or not x86-64) has nothing faster to offer.
        XCTAssertNil(BLAS.slowKernelWarning(core: "Prescott", cpuVectorLevel: 0))
        XCTAssertNil(BLAS.slowKernelWarning(core: "ARMV8", cpuVectorLevel: 0))
    }
}
