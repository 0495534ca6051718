# Static types for values.py when Cython compiles it (segmint/compiled.py); values.py is the source.
# lookup is read for every property a condition tests: a C call from the other compiled modules.
cpdef object lookup(object properties, object path)
