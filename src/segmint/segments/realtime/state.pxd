# Static types for state.py when Cython compiles it (segmint/compiled.py); state.py is the source.
# Times and seqs are C long long (microseconds and store seqs fit); stamps (time << 64 | seq) and
# exact sums stay Python ints.
cimport cython
from cpython.array cimport array, resize_smart
from libc.math cimport frexp
from segmint.segments.values cimport lookup

cdef bint COMPILED

@cython.locals(n=Py_ssize_t)
cpdef _push(array values, long long value)

# Helpers the other compiled modules call for every event: C calls there (their pxd cimports them).
@cython.locals(as_double=cython.double, fraction=cython.double, exponent=cython.int, whole=object,
               shift=cython.int)
cpdef object exact(object value)
cpdef object to_float(object total, object count=*)
cpdef bint number(object value) except -1
cpdef object _same_part(object value, object seq)
cpdef object same_key(object properties, tuple paths, object seq)
cdef extern from "Python.h":
    object _PyLong_FromByteArray(const unsigned char *bytes, size_t n, int little_endian, int is_signed)
cdef unsigned char _STAMP[16]
@cython.locals(low=cython.ulonglong, high=cython.ulonglong, i=cython.int)
cpdef object stamp(long long at, long long seq)
cpdef tuple unstamp(object value)
cpdef object partner(list bs, object a, object gap)
cpdef bint follower_of(list as_, object b, object gap) except -1

cdef class IdState:
    cdef public list logs
    cdef public dict traits
    cdef public long long first_at
    cdef public long long first_seq
    cdef public object linked
    cdef public object linked_mark
    cdef public object profile
    cpdef bint set_trait(self, str name, long long at, long long seq, object value)

@cython.locals(value=object)
cpdef _remember(list recent, long long at, long long seq)

cpdef Py_ssize_t _insert(list stamps, object value)

cdef class SelectorLog:
    cdef public long long n
    cdef public object recent
    cdef public object ts
    cdef public object seqs

@cython.locals(times=cython.p_longlong, lo=Py_ssize_t, hi=Py_ssize_t, mid=Py_ssize_t)
cpdef Py_ssize_t after(array ts, long long at) except -1
@cython.locals(n=Py_ssize_t)
cpdef bint later_than(array ts, long long at) except -1

cpdef Py_ssize_t _window_insert(object ts, object seqs, long long at, long long seq)

cdef class Slot:
    cdef public Py_ssize_t index
    cdef public tuple leaves
    cdef public tuple quick
    cdef public tuple counts
    cdef public tuple deadlines
    cdef public bint reads_properties
    cpdef bint take(self, IdState state, long long at, long long seq, object properties, long long now) except -1

cdef class SelectorSlot(Slot):
    cdef public long long horizon
    cdef public bint recent
    @cython.locals(log=SelectorLog, horizon=cython.longlong, drop=Py_ssize_t)
    cpdef bint take(self, IdState state, long long at, long long seq, object properties, long long now) except -1

cdef class AggregateLog:
    cdef public long long n
    cdef public object total
    cdef public object lo
    cdef public object hi
    cdef public object recent
    cdef public object ts
    cdef public object seqs
    cdef public object values
    cdef public object exacts

cdef class AggregateSlot(Slot):
    cdef public tuple path
    cdef public long long horizon
    cdef public bint history
    @cython.locals(log=AggregateLog, horizon=cython.longlong, cut=cython.longlong, drop=Py_ssize_t, i=Py_ssize_t)
    cpdef bint take(self, IdState state, long long at, long long seq, object properties, long long now) except -1

cdef class SequenceLog:
    cdef public dict a
    cdef public dict b
    cdef public bint latched

cdef class SequenceSlot(Slot):
    cdef public bint is_a
    cdef public tuple paths
    cdef public long long window
    cdef public object gap
    cdef public bint negated
    cdef public tuple follows
    @cython.locals(log=SequenceLog, window=cython.longlong, mine=dict, other=dict, events=list)
    cpdef bint take(self, IdState state, long long at, long long seq, object properties, long long now) except -1
    @cython.locals(state=IdState, log=SequenceLog)
    cpdef bint pairs(self, list states, long long at, long long seq, object properties) except -1
    cpdef bint _settle(self, SequenceLog log, list events, list others, object value) except -1
