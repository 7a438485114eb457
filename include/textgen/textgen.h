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

#endif /* TEXTGEN_TEXTGEN_H */
