/* Python's object arenas on transparent huge pages (see arenas.py, which says when and why).
 *
 * CPython's small-object allocator (pymalloc) takes its memory in arenas of a fixed size
 * (1 MiB in 3.11), asking its arena allocator for each one; the default maps each arena on
 * its own, in 4 KiB pages. An evaluator holding a million small objects that it visits in
 * no particular order then misses the TLB on nearly every visit. This allocator hands out
 * arenas carved from 2 MiB-aligned regions advised MADV_HUGEPAGE, so the kernel backs them
 * with 2 MiB pages: 512 times fewer pages to translate.
 *
 * Requests of another size, or when a region cannot be mapped, go to the allocator that was
 * in place before, as do frees of arenas it handed out (those made before install()). An
 * arena pymalloc frees is kept on a free list for its next request, not unmapped: unmapping
 * part of a huge page would split it. pymalloc holds the GIL whenever it calls these, so
 * they need no lock. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)
#define REGION ((size_t)64 << 20) /* mapped at a time: 32 huge pages, committed as touched */
#define MAX_REGIONS 4096          /* 256 GiB; beyond it, arenas come from the previous allocator */

static PyObjectArenaAllocator previous;
static int installed;
static size_t arena_size;                 /* pymalloc's: learnt from its first request */
static char *regions[MAX_REGIONS];
static size_t region_count;
static char *next_arena, *region_end;     /* the current region's unused part */
static void *free_arenas;                 /* freed arenas, linked through their first word */
static size_t handed_out, reused, passed_on, handed_back;

static int
new_region(void)
{
    if (region_count == MAX_REGIONS)
        return 0;
    size_t span = REGION + HUGE_PAGE;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return 0;
    char *start = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    char *end = start + REGION;
    if (start > raw)
        munmap(raw, (size_t)(start - raw));
    if (raw + span > end)
        munmap(end, (size_t)(raw + span - end));
#ifdef MADV_HUGEPAGE
    madvise(start, REGION, MADV_HUGEPAGE); /* refused (THP off): plain pages, as before */
#endif
    regions[region_count++] = start;
    next_arena = start;
    region_end = end;
    return 1;
}

static int
ours(void *ptr)
{
    for (size_t i = 0; i < region_count; i++)
        if ((char *)ptr >= regions[i] && (char *)ptr < regions[i] + REGION)
            return 1;
    return 0;
}

static void *
arena_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (arena_size == 0 && size > 0 && size <= HUGE_PAGE && (size & (size - 1)) == 0)
        arena_size = size; /* a power of two up to a huge page: regions divide evenly */
    if (size == arena_size) {
        if (free_arenas != NULL) {
            void *arena = free_arenas;
            free_arenas = *(void **)arena;
            reused++;
            return arena;
        }
        if (next_arena != region_end || new_region()) {
            void *arena = next_arena;
            next_arena += arena_size;
            handed_out++;
            return arena;
        }
    }
    passed_on++;
    return previous.alloc(previous.ctx, size);
}

static void
arena_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    if (size == arena_size && ours(ptr)) {
        *(void **)ptr = free_arenas;
        free_arenas = ptr;
        return;
    }
    handed_back++; /* made before install(), or passed on: freed by the allocator that made it */
    previous.free(previous.ctx, ptr, size);
}

static PyObject *
install(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    if (!installed) {
        PyObjectArenaAllocator mine = {NULL, arena_alloc, arena_free};
        PyObject_GetArenaAllocator(&previous);
        PyObject_SetArenaAllocator(&mine);
        installed = 1;
    }
    Py_RETURN_NONE;
}

static PyObject *
stats(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    size_t free_count = 0;
    for (void *arena = free_arenas; arena != NULL; arena = *(void **)arena)
        free_count++;
    return Py_BuildValue("{s:O,s:n,s:n,s:n,s:n,s:n,s:n,s:n,s:n}", "installed", installed ? Py_True : Py_False,
                         "arena_size", (Py_ssize_t)arena_size, "region_size", (Py_ssize_t)REGION,
                         "regions", (Py_ssize_t)region_count, "handed_out", (Py_ssize_t)handed_out,
                         "reused", (Py_ssize_t)reused, "free", (Py_ssize_t)free_count,
                         "passed_on", (Py_ssize_t)passed_on, "handed_back", (Py_ssize_t)handed_back);
}

static PyObject *
region_starts(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    PyObject *starts = PyList_New((Py_ssize_t)region_count);
    if (starts == NULL)
        return NULL;
    for (size_t i = 0; i < region_count; i++) {
        PyObject *start = PyLong_FromVoidPtr(regions[i]);
        if (start == NULL) {
            Py_DECREF(starts);
            return NULL;
        }
        PyList_SET_ITEM(starts, (Py_ssize_t)i, start);
    }
    return starts;
}

static PyMethodDef methods[] = {
    {"install", install, METH_NOARGS, "Serve pymalloc's arenas from huge-page regions from now on (idempotent)."},
    {"stats", stats, METH_NOARGS, "Counts: regions mapped; arenas handed out, reused, free; passed on to, handed back to the previous allocator."},
    {"region_starts", region_starts, METH_NOARGS, "The address where each region starts."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_arenas", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit__arenas(void)
{
    return PyModule_Create(&module);
}
