/* Logging to stderr with levels. The level is set once at startup (or by a reload on the
 * main thread) and read racily-but-atomically by workers. */
#ifndef TWOFOLD_PX_LOG_H
#define TWOFOLD_PX_LOG_H

enum px_log_level { PX_LOG_ERROR = 0, PX_LOG_WARN, PX_LOG_INFO, PX_LOG_DEBUG };

void px_log_set_level(enum px_log_level level);
enum px_log_level px_log_get_level(void);
/* "error", "warn", "info", "debug" -> level; returns -1 when unknown. */
int px_log_level_parse(const char *s);
void px_log(enum px_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define px_err(...)   px_log(PX_LOG_ERROR, __VA_ARGS__)
#define px_warn(...)  px_log(PX_LOG_WARN, __VA_ARGS__)
#define px_info(...)  px_log(PX_LOG_INFO, __VA_ARGS__)
#define px_debug(...) px_log(PX_LOG_DEBUG, __VA_ARGS__)

#endif
