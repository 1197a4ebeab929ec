/* The C library's allocation functions zstd uses: pack.c defines them over its bump allocator. */
#include <stddef.h>
void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void free(void *p);
