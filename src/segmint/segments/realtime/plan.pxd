# Static types for plan.py when Cython compiles it (segmint/compiled.py); plan.py is the source.
cimport cython
from segmint.segments.realtime.compare cimport Test

cdef class Route:
    cdef public Test test
    cdef public list slots

cdef class Formula:
    cpdef bint holds(self, list leaves, list segments) except -1

cdef class _Value(Formula):
    cdef public Py_ssize_t index
    cdef public bint of_segment
    cpdef bint holds(self, list leaves, list segments) except -1

cdef class _Negation(Formula):
    cdef public Formula part
    cpdef bint holds(self, list leaves, list segments) except -1

cdef class _Junction(Formula):
    cdef public bint any_of
    cdef public list parts
    @cython.locals(part=Formula, decisive=bint)
    cpdef bint holds(self, list leaves, list segments) except -1
