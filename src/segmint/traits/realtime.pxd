# Static types for realtime.py when Cython compiles it (segmint/compiled.py); realtime.py is the source.
cimport cython
from segmint.segments.realtime.compare cimport Test
from segmint.segments.realtime.state cimport IdState, Slot, exact, number, stamp, to_float
from segmint.segments.realtime.leaves cimport Leaf, _aggregate
from segmint.segments.values cimport lookup

cpdef object scalar(object value)

cdef class Summary:
    cdef public long long n
    cdef public object total
    cdef public object lo
    cdef public object hi
    cdef public object first
    cdef public object last
    cdef public dict tally
    cpdef update(self, object stamp, object value, str kind)
    cpdef merge(self, Summary other)

cdef class TraitLog:
    cdef public Summary summary
    cdef public list events

cpdef tuple _event_value(object path, bint numeric, object properties)

cdef class TraitSlot(Slot):
    cdef public object definition
    cdef public long long horizon
    cdef public str kind
    cdef public object path
    cdef public bint numeric
    @cython.locals(log=TraitLog, events=list, horizon=cython.longlong)
    cpdef bint take(self, IdState state, long long at, long long seq, object properties, long long now) except -1

cdef class ComputedTraitLeaf(Leaf):
    cdef public Py_ssize_t slot
    cdef public object definition
    cdef public tuple comparisons
    cdef public str name
    cdef public Test test
    cdef public bint timed
    cdef public bint since
    cdef public list points
    cpdef tuple evaluate(self, list states, long long now)
