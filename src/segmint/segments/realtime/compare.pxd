# Static types for compare.py when Cython compiles it (segmint/compiled.py); compare.py is the source.
# Test.holds is a C method: the compiled leaves and routes call it without a Python frame.
cimport cython
from segmint.segments.values cimport lookup
cdef int _NUM, _STR, _BOOL

cdef class Test:
    cpdef bint holds(self, object value) except -1

cdef class _Constant(Test):
    cdef public bint answer
    cpdef bint holds(self, object value) except -1

cdef class _Exists(Test):
    cdef public bint wanted
    cpdef bint holds(self, object value) except -1

cdef class _Generic(Test):
    cdef public object as_doubles
    cpdef bint holds(self, object value) except -1

cdef class _Equal(Test):
    cdef public _Generic fallback
    cdef public bint negated
    cdef public object operand
    cdef public int want
    cpdef bint holds(self, object value) except -1

cdef class _Range(Test):
    cdef public _Generic fallback
    cdef public object high
    cdef public bint high_open
    cdef public object low
    cdef public bint low_open
    cdef public bint numeric
    cpdef bint holds(self, object value) except -1

cdef class _Membership(Test):
    cdef public set bools
    cdef public _Generic fallback
    cdef public bint negated
    cdef public set nums
    cdef public set strs
    cpdef bint holds(self, object value) except -1

cdef class _All(Test):
    cdef public list tests
    cpdef bint holds(self, object value) except -1

cdef class _WhereKey(Test):
    cdef public object key
    cdef public Test check
    cpdef bint holds(self, object properties) except -1

cdef class _Where(Test):
    cdef public tuple filters
    @cython.locals(check=Test)
    cpdef bint holds(self, object properties) except -1
