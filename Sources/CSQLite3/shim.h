#include <sqlite3.h>
// SQLITE_TRANSIENT/STATIC are casts of function pointers, which Swift cannot import.
static inline sqlite3_destructor_type tunelab_sqlite_transient(void) { return SQLITE_TRANSIENT; }
static inline sqlite3_destructor_type tunelab_sqlite_static(void) { return SQLITE_STATIC; }
