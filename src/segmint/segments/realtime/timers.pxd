# Static types for timers.py when Cython compiles it (segmint/compiled.py); timers.py is the source.
cdef class Schedule:
    cdef public list heap
    cdef public dict waiting
    cpdef want(self, object profile, object at)
    cpdef list take(self, object at)
