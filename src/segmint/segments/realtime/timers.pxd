# Static types for timers.py when Cython compiles it (segmint/compiled.py); timers.py is the source.
cimport cython

from cpython.array cimport array

cdef bint COMPILED

cpdef array new_dues(Py_ssize_t leaves)
cpdef long long due(array dues, Py_ssize_t leaf) except? -1
cpdef set_due(array dues, Py_ssize_t leaf, long long at)
@cython.locals(first=cython.longlong, times=cython.p_longlong, i=Py_ssize_t)
cpdef long long earliest(array dues) except? -1
@cython.locals(found=list, times=cython.p_longlong, i=Py_ssize_t)
cpdef list passed(array dues, long long at)

cdef class Scheduled:
    cdef public long long due
    cdef public bint alive

cdef class Schedule:
    cdef list _heap
    cdef public dict waiting
    cdef long long[::1] _times
    cdef Py_ssize_t _size
    @cython.locals(instant=object, bucket=list)
    cpdef want(self, Scheduled profile, long long at)
    cpdef long long first(self)
    @cython.locals(profile=Scheduled)
    cpdef object next_at(self)
    cpdef list take(self, long long at)
    @cython.locals(times=cython.longlong[::1], n=Py_ssize_t, i=Py_ssize_t, child=Py_ssize_t, last=cython.longlong)
    cdef _pop(self)
    @cython.locals(times=cython.longlong[::1], n=Py_ssize_t, i=Py_ssize_t, parent=Py_ssize_t)
    cdef _push(self, long long at)
