"""Thread settings for DeePMD, PyTorch and BLAS; this module imports nothing heavy so it can run first."""

import os
import sys

__all__ = ('configure_threads',)

_THREAD_VARIABLES = ('OMP_NUM_THREADS', 'DP_INTRA_OP_PARALLELISM_THREADS')
#: numpy's BLAS only sees 3x3 to 6x6 matrices here, where threads cost more than they give.
_BLAS_VARIABLES = ('OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')


def configure_threads(threads: int | None = None) -> int | None:
    """Set the thread counts DeePMD and PyTorch read at import time (``OMP_NUM_THREADS``,
    ``DP_INTRA_OP_PARALLELISM_THREADS``, ``DP_INTER_OP_PARALLELISM_THREADS=1``, ``NUM_WORKERS=0``) and keeps
    numpy's BLAS single-threaded unless told otherwise.

    With ``threads=None`` the variables already set are kept and missing ones default to 1 (the machine is shared).
    Must run before ``deepmd`` is imported to take full effect; afterwards only ``torch.set_num_threads`` is applied.
    Returns the intra-op thread count in use.
    """
    if threads is not None:
        for name in _THREAD_VARIABLES:
            os.environ[name] = str(int(threads))
    else:
        for name in _THREAD_VARIABLES:
            os.environ.setdefault(name, os.environ.get('OMP_NUM_THREADS', '1'))
    for name in _BLAS_VARIABLES:
        os.environ.setdefault(name, '1')
    os.environ.setdefault('DP_INTER_OP_PARALLELISM_THREADS', '1')
    os.environ.setdefault('NUM_WORKERS', '0')
    count = int(os.environ['DP_INTRA_OP_PARALLELISM_THREADS'])
    if 'torch' in sys.modules and threads is not None:
        sys.modules['torch'].set_num_threads(count)
    return count
