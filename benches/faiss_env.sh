# Sourced by the FAISS benchmarks. faiss-cpu's wheel bundles OpenBLAS 0.3.15, which does not
# know recent CPUs (Intel Xeon model 207, for one) and falls back to a generic kernel there:
# IndexFlatIP then answers 175 queries/s where numpy's newer OpenBLAS computes the same product
# 5x as fast. Name the kernel family the CPU can run, so FAISS is measured at its best.
# An OPENBLAS_CORETYPE already set wins.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    flags=$(grep -m1 '^flags' /proc/cpuinfo)
    if [[ " $flags " == *" avx512f "* && " $flags " == *" avx512bw "* && " $flags " == *" avx512vl "* && " $flags " == *" avx512dq "* ]]; then
        export OPENBLAS_CORETYPE=SkylakeX
    elif [[ " $flags " == *" avx2 "* && " $flags " == *" fma "* ]]; then
        export OPENBLAS_CORETYPE=Haswell
    fi
fi
