/**
 * @file textgen/textgen.h
 * @brief Umbrella header: include this to use libtextgen.
 */
#ifndef TEXTGEN_TEXTGEN_H
#define TEXTGEN_TEXTGEN_H

#include <textgen/common.h>
#include <textgen/version.h>
#include <textgen/model.h>
#include <textgen/session.h>
#include <textgen/tokenizer.h>
#include <textgen/plugin.h>
#include <textgen/sampler.h>
#include <textgen/generate.h>

#endif /* TEXTGEN_TEXTGEN_H */
