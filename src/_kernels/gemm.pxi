# gemm kernels: bindings included into _kernels.pyx (see its end). Owned by the gemm work.
