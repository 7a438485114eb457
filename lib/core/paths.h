/* core/paths.h — internal: folders found relative to the installed library (core/paths.c). */
#ifndef TG_CORE_PATHS_H
#define TG_CORE_PATHS_H

/* The installed plugin folder, whether or not it exists (borrowed, static). */
const char *tg__plugins_dir(void);

#endif
