/* zstd is built with DEBUGLEVEL 0: its assertions are off. */
#define assert(condition) ((void)0)
