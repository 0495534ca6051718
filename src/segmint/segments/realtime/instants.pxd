# Static types for instants.py when Cython compiles it (segmint/compiled.py); instants.py is the source.
cimport cython
from cpython.datetime cimport datetime as cdatetime, datetime_new, import_datetime

cdef bint COMPILED
cdef long long _DAY, _FIRST, _AFTER_LAST

cpdef object micros(object moment)
@cython.locals(days=cython.longlong, seconds=cython.longlong, year=cython.longlong, month=cython.longlong,
               era=cython.longlong, year_of_era=cython.longlong, day_of_year=cython.longlong,
               day_of_era=cython.longlong)
cpdef long long _utc_micros(cdatetime moment)
@cython.locals(whole=cython.longlong, days=cython.longlong, rest=cython.longlong, z=cython.longlong, era=cython.longlong,
               day_of_era=cython.longlong, year_of_era=cython.longlong, day_of_year=cython.longlong,
               shifted=cython.longlong, day=cython.longlong, month=cython.longlong, year=cython.longlong,
               seconds=cython.longlong)
cpdef object instant(long long micros)
