# Static types for evaluator.py when Cython compiles it (segmint/compiled.py); evaluator.py is the source.
cimport cython
from cpython.array cimport array
from segmint.segments.realtime.timers cimport Schedule, Scheduled, due, earliest, new_dues, passed, set_due
from segmint.segments.realtime.state cimport IdState, Slot, SequenceSlot, SelectorLog, stamp
from segmint.segments.realtime.leaves cimport Leaf, CountTest
from segmint.segments.realtime.instants cimport instant, micros
from segmint.segments.realtime.plan cimport Formula, Route

cdef long long NEVER  # timers.NEVER, as a C constant here: comparisons with it box nothing

cpdef bint _among(IdState state, list states) except -1
@cython.locals(log=object)
cpdef bint _empty(IdState state) except -1
cpdef object _json(object value)
cpdef object _json_with(object value, tuple quoted)

cdef class Profile(Scheduled):
    cdef public object id
    cdef public list keys
    cdef public list states
    cdef public list leaves
    cdef public list segments
    cdef public array dues
    cdef public bint fresh
    cdef public set dirty
    cdef public list changed

cdef class RealtimeEvaluator:
    cdef public object _plan
    cdef public object _identity
    cdef public object _clock
    cdef public object _graph
    cdef public dict _links
    cdef public dict _ids
    cdef public dict _profile_of
    cdef public dict _by_id
    cdef public list _members
    cdef public dict _index
    cdef public list _held
    cdef public object _tick
    cdef public Schedule _schedule
    cdef public dict _touched
    cdef dict _untouched
    cdef public long long _stamped_at
    cdef public object _stamped
    cdef public tuple _id_roots
    cdef dict _routes
    cdef frozenset _parsed
    cdef dict _trait_leaves
    cdef dict _expiring
    cdef list _names
    cdef list _leaves
    cdef list _formulas
    cdef list _segments_of_leaf
    cdef list _dependents

    @cython.locals(held=list, future=Py_ssize_t, added=Py_ssize_t)
    cpdef list feed(self, object rows)
    @cython.locals(held=list, schedule=Schedule, changes=list, touched=dict, expiring=dict,
                   profile=Profile, dues=array, expired=bint, marked=bint, values=list, leaf=Py_ssize_t,
                   later=cython.longlong, at=cython.longlong, timer=cython.longlong, target=cython.longlong,
                   first_held=cython.longlong)
    cpdef list advance(self, object now)
    @cython.locals(state=IdState, profile=Profile, carried=list, parsed=dict, seq=cython.longlong)
    cpdef _apply(self, dict row, long long at)
    @cython.locals(dirty=set, values=list, dues=array, now=cython.longlong, route=Route, slot=Slot, sequence=SequenceSlot,
                   index=Py_ssize_t, total=cython.longlong, member=IdState, log=SelectorLog, test=CountTest, deadline=cython.longlong,
                   until=cython.longlong, gap=cython.longlong, window=cython.longlong, current=cython.longlong)
    cpdef _track(self, Profile profile, IdState state, list routes, long long at, long long seq, object properties)
    @cython.locals(touched=dict, profile=Profile, pre=dict, post=dict, changes=list)
    cpdef list _settle(self, long long now)
    @cython.locals(names=list, members=list, changes=list, segments=list)
    cpdef list _flips(self, long long now, Profile profile, list flipped)
    @cython.locals(changed=list, dues=array, leaves=list, values=list, states=list, leaf=Leaf, i=Py_ssize_t,
                   first=cython.longlong, wake=cython.longlong)
    cpdef list _evaluate(self, Profile profile, long long now)
    @cython.locals(current=list, values=list, formulas=list, dependents=list, leaves=list, flipped=list,
                   position=Py_ssize_t, j=Py_ssize_t, formula=Formula)
    cpdef list _recompute(self, Profile profile, list changed)
    cpdef object _instant(self, long long now)
    cpdef _identify(self, Profile profile, IdState state, object at, object seq, object traits)
    cpdef _join(self, object key, IdState state)
    cpdef _link(self, object a, object b, object at, object seq)
    cpdef _may_rename(self, object key)
    cpdef set _filled(self, list states)
    @cython.locals(old=Profile, kept=bint, state=IdState)
    cpdef Profile _heir(self, set before, list states)
    cpdef set _profiles_in(self, list keys)
    @cython.locals(state=IdState, first=cython.longlong)
    cpdef _resolve(self, list keys, set before, bint force=*)
    @cython.locals(names=list, members=list, changes=list, nothing=list, old=list, new=list, i=Py_ssize_t)
    cpdef list _diff(self, long long now, dict pre, dict post)
    @cython.locals(formulas=list, dependents=list, j=Py_ssize_t, formula=Formula)
    cpdef _propagate(self, list todo, Py_ssize_t flipped_from, list values, list leaves, list flipped)
    @cython.locals(links=dict)
    cpdef _carry(self, object primary, IdState state, list carried, long long at, long long seq)
