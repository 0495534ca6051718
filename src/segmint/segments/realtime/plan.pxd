# Static types for plan.py when Cython compiles it (segmint/compiled.py); plan.py is the source.
cdef class Route:
    cdef public object test
    cdef public list slots
