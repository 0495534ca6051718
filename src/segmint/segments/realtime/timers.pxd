# Static types for timers.py when Cython compiles it (segmint/compiled.py); timers.py is the source.
cimport cython

cdef bint COMPILED

cdef class Schedule:
    cdef list _heap
    cdef public dict waiting
    cdef long long[::1] _times
    cdef Py_ssize_t _size
    cpdef want(self, object profile, object at)
    cpdef long long first(self)
    cpdef list take(self, object at)
    @cython.locals(times=cython.longlong[::1], n=Py_ssize_t, i=Py_ssize_t, child=Py_ssize_t, last=cython.longlong)
    cdef _pop(self)
    @cython.locals(times=cython.longlong[::1], n=Py_ssize_t, i=Py_ssize_t, parent=Py_ssize_t)
    cdef _push(self, long long at)
