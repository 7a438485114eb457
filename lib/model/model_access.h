/* model/model_access.h — internal: the narrow view of a tg_model that the generation loop and
 * the sampler chain use (beyond the public tg_model_* calls). */
#ifndef TG_MODEL_ACCESS_H
#define TG_MODEL_ACCESS_H

#include "generation_config.h"
#include <textgen/model.h>

int32_t tg__model_n_vocab(const tg_model *m);
int32_t tg__model_n_ctx(const tg_model *m);
int32_t tg__model_bos_id(const tg_model *m); /* -1 when none */
int32_t tg__model_eos_id(const tg_model *m); /* -1 when none */
/* generation_config.json's defaults (all zero when the folder has none). */
const tg_gen_defaults *tg__model_gen_defaults(const tg_model *m);

#endif
