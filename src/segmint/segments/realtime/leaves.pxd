# Static types for leaves.py when Cython compiles it (segmint/compiled.py); leaves.py is the source.
cimport cython
from segmint.segments.realtime.compare cimport Test
from segmint.segments.realtime.instants cimport instant
from segmint.segments.realtime.state cimport (IdState, SelectorLog, AggregateLog, SequenceLog, after, later_than,
                                             partner, stamp, to_float, unstamp)

cpdef object _aggregate(str function, object count, object total, object low, object high)

cdef class CountTest:
    cdef public tuple comparisons
    cdef public list points
    cdef public dict _cache
    cdef public list table
    @cython.locals(table=list)
    cpdef tuple at(self, Py_ssize_t count)

cdef class Leaf:
    cpdef tuple evaluate(self, list states, long long now)

cdef class CountLeaf(Leaf):
    cdef public Py_ssize_t slot
    cdef public str event
    cdef public CountTest test
    @cython.locals(n=cython.longlong, slot=Py_ssize_t, state=IdState, log=SelectorLog)
    cpdef tuple evaluate(self, list states, long long now)

cdef class RecentLeaf(Leaf):
    cdef public Py_ssize_t slot
    cdef public str event
    cdef public long long window
    cdef public bint wanted
    @cython.locals(slot=Py_ssize_t, state=IdState, log=SelectorLog)
    cpdef tuple evaluate(self, list states, long long now)

cdef class WindowCountLeaf(Leaf):
    cdef public Py_ssize_t slot
    cdef public str event
    cdef public long long window
    cdef public CountTest test
    @cython.locals(cut=cython.longlong, slot=Py_ssize_t, state=IdState, log=SelectorLog, count=Py_ssize_t,
                   smaller=Py_ssize_t, parts=list)
    cpdef tuple evaluate(self, list states, long long now)

cdef class TotalLeaf(Leaf):
    cdef public Py_ssize_t slot
    cdef public str event
    cdef public str function
    cdef public tuple comparisons
    cdef public Test test
    @cython.locals(state=IdState, log=AggregateLog)
    cpdef tuple _value(self, list states)
    cpdef tuple evaluate(self, list states, long long now)

cdef class WindowAggregateLeaf(Leaf):
    cdef public Py_ssize_t slot
    cdef public str event
    cdef public long long window
    cdef public str function
    cdef public tuple comparisons
    cdef public Test test
    @cython.locals(cut=cython.longlong, slot=Py_ssize_t, state=IdState, log=AggregateLog, n=Py_ssize_t,
                   start=Py_ssize_t, k=Py_ssize_t, window=cython.longlong, test=Test)
    cpdef tuple evaluate(self, list states, long long now)

@cython.locals(state=IdState, log=SequenceLog)
cpdef tuple _gather(list states, Py_ssize_t slot)

cdef class FollowedByLeaf(Leaf):
    cdef public Py_ssize_t slot
    cdef public str event
    cdef public str then
    cdef public long long window
    cdef public object gap
    cpdef tuple _latest_pair(self, list states, long long now)
    cpdef tuple evaluate(self, list states, long long now)

cdef class NotFollowedByLeaf(Leaf):
    cdef public Py_ssize_t slot
    cdef public str event
    cdef public long long window
    cdef public long long gap
    @cython.locals(out=list)
    cpdef list _open(self, list states, long long now)
    cpdef tuple evaluate(self, list states, long long now)

cdef class TraitLeaf(Leaf):
    cdef public str name
    cdef public tuple comparisons
    cdef public Test test
    @cython.locals(state=IdState)
    cpdef tuple value(self, list states)
    cpdef tuple evaluate(self, list states, long long now)
