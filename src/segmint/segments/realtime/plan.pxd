# Static types for plan.py when Cython compiles it (segmint/compiled.py); plan.py is the source.
from segmint.segments.values cimport lookup
cdef class Route:
    cdef public object test
    cdef public list slots
