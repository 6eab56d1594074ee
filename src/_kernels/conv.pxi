# conv kernels: bindings included into _kernels.pyx (see its end). Owned by the conv work.
