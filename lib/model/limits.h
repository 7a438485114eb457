/* model/limits.h — internal: limits that more than one module checks. */
#ifndef TG_MODEL_LIMITS_H
#define TG_MODEL_LIMITS_H

/* Sequences of one session (tg_session_options.n_seq), hence beams of one search. */
#define TG_MAX_SEQ 4096

#endif
