/* The one allocator wrapper. All of pinion's heap memory goes through these
 * functions (jansson's too, see pn_alloc_install_json), so that a test build can make
 * the Nth allocation fail and check that every caller copes, as redis's zmalloc and
 * curl's torture tests do. They return NULL on failure; they never abort. */
#ifndef PN_CORE_ALLOC_H
#define PN_CORE_ALLOC_H

#include <stddef.h>

void *pn_malloc(size_t size);
void *pn_calloc(size_t count, size_t size);
void *pn_realloc(void *pointer, size_t size);
/* A copy of text that the caller frees with pn_free; NULL when text is NULL. */
char *pn_strdup(const char *text);
char *pn_strndup(const char *text, size_t length);
/* A pn_malloc'd string formatted like printf; the caller frees it. */
char *pn_strfmt(const char *format, ...) __attribute__((format(printf, 1, 2)));
void pn_free(void *pointer);

/* Makes jansson allocate through pn_malloc/pn_free. Call once at start-up. */
void pn_alloc_install_json(void);

/* For servers that move megabyte outputs: buffers up to 16 MiB come from the heap and
 * up to 32 MiB of freed memory stays mapped, so a request reuses the last one's pages
 * instead of mapping, faulting in and zeroing fresh ones (glibc's defaults map each
 * buffer over 128 KiB anew: ~700 page faults per 1 MiB output). */
void pn_alloc_keep_large_buffers(void);
/* Returns freed memory to the system (after a burst, when the server goes idle). */
void pn_alloc_release_free_memory(void);

/* Tests: let the next `count` allocations succeed and fail every one after them.
 * A negative count turns failure injection off. */
void pn_alloc_fail_after(long count);

#endif
