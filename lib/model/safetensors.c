/* model/safetensors.c — reader for the safetensors format (8-byte LE header length, JSON header,
 * contiguous byte buffer). Validation follows the reference reader: the buffer must be covered
 * exactly, without holes or overlaps. */
#include "core/alloc.h"
#include "safetensors.h"
#include "core/error.h"
#include "core/json_util.h"

#include <stdlib.h>
#include <string.h>

#define MAX_HEADER_SIZE 100000000ull

/* Known dtypes we do not compute with: their tensors (buffers such as attn.bias) are bounds-checked
 * and then ignored by the model loader. */
static int other_dtype_size(const char *s)
{
    static const struct {
        const char *name;
        int size;
    } known[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
                 {"I16", 2},  {"U16", 2}, {"I32", 4}, {"U32", 4},     {"F64", 8},
                 {"I64", 8},  {"U64", 8}, {"C64", 8}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(s, known[i].name) == 0)
            return known[i].size;
    return 0;
}

typedef struct span {
    uint64_t begin, end;
    const char *name;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static tg_status read_offsets(uint64_t *b, uint64_t *e, JsonObject *info, const char *path,
                              const char *name)
{
    JsonNode *n = json_object_get_member(info, "data_offsets");
    if (!n || !JSON_NODE_HOLDS_ARRAY(n) || json_array_get_length(json_node_get_array(n)) != 2)
        return tg__error(TG_EFORMAT, "%s: tensor '%s': \"data_offsets\" must be [begin, end]", path,
                         name);
    JsonArray *a = json_node_get_array(n);
    for (int i = 0; i < 2; i++) {
        JsonNode *v = json_array_get_element(a, (guint)i);
        if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_INT64 ||
            json_node_get_int(v) < 0)
            return tg__error(TG_EFORMAT,
                             "%s: tensor '%s': data_offsets must be non-negative integers", path,
                             name);
    }
    *b = (uint64_t)json_array_get_int_element(a, 0);
    *e = (uint64_t)json_array_get_int_element(a, 1);
    if (*e < *b)
        return tg__error(TG_EFORMAT, "%s: tensor '%s': data_offsets end %llu < begin %llu", path,
                         name, (unsigned long long)*e, (unsigned long long)*b);
    return TG_OK;
}

static tg_status read_shape(tg_st_tensor *t, int64_t *numel, JsonObject *info, const char *path,
                            const char *name)
{
    JsonNode *n = json_object_get_member(info, "shape");
    if (!n || !JSON_NODE_HOLDS_ARRAY(n))
        return tg__error(TG_EFORMAT, "%s: tensor '%s': missing \"shape\" array", path, name);
    JsonArray *a = json_node_get_array(n);
    guint nd = json_array_get_length(a);
    if (t && nd > TG_ST_MAX_DIMS)
        return tg__error(TG_EUNSUPPORTED, "%s: tensor '%s' has %u dimensions (at most %d)", path,
                         name, nd, TG_ST_MAX_DIMS);
    int64_t count = 1;
    for (guint i = 0; i < nd; i++) {
        JsonNode *v = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_INT64 ||
            json_node_get_int(v) < 0)
            return tg__error(TG_EFORMAT,
                             "%s: tensor '%s': shape entries must be non-negative "
                             "integers",
                             path, name);
        int64_t d = json_node_get_int(v);
        if (d != 0 && count > INT64_MAX / 16 / d)
            return tg__error(TG_EFORMAT, "%s: tensor '%s': shape too large", path, name);
        count *= d;
        if (t)
            t->shape[i] = d;
    }
    if (t)
        t->ndim = (int)nd;
    *numel = count;
    return TG_OK;
}

static tg_status parse_header(tg_safetensors *st, JsonObject *root, uint64_t data_start,
                              uint64_t data_size)
{
    const char *path = st->path;
    GList *members = json_object_get_members(root);
    guint n_members = g_list_length(members);
    span *spans = tg__calloc(n_members ? n_members : 1, sizeof *spans);
    st->tensors = tg__calloc(n_members ? n_members : 1, sizeof *st->tensors);
    st->other = tg__calloc(n_members ? n_members : 1, sizeof *st->other);
    st->other_dtype = tg__calloc(n_members ? n_members : 1, sizeof *st->other_dtype);
    if (!spans || !st->tensors || !st->other || !st->other_dtype) {
        g_list_free(members);
        free(spans);
        return tg__error(TG_ENOMEM, "%s: out of memory reading the header", path);
    }
    size_t n_spans = 0;
    tg_status rc = TG_OK;
    for (GList *l = members; l && rc == TG_OK; l = l->next) {
        const char *name = l->data;
        if (strcmp(name, "__metadata__") == 0)
            continue;
        JsonNode *node = json_object_get_member(root, name);
        if (!JSON_NODE_HOLDS_OBJECT(node)) {
            rc = tg__error(TG_EFORMAT, "%s: tensor '%s': entry must be a JSON object", path, name);
            break;
        }
        JsonObject *info = json_node_get_object(node);
        const char *dt;
        rc = tg__json_get_string(&dt, info, "dtype", path);
        if (rc != TG_OK) {
            tg__error_prefix("tensor '%s'", name);
            break;
        }
        uint64_t b = 0, e = 0;
        if ((rc = read_offsets(&b, &e, info, path, name)) != TG_OK)
            break;
        size_t esize;
        tg_st_tensor *t = NULL;
        if (strcmp(dt, "F32") == 0 || strcmp(dt, "F16") == 0 || strcmp(dt, "BF16") == 0) {
            t = &st->tensors[st->n_tensors];
            t->dtype = dt[0] == 'B' ? TG_DT_BF16 : dt[1] == '1' ? TG_DT_F16 : TG_DT_F32;
            esize = tg__dtype_size(t->dtype);
        } else if ((esize = (size_t)other_dtype_size(dt)) == 0) {
            rc = tg__error(TG_EUNSUPPORTED, "%s: tensor '%s' has unknown dtype \"%s\"", path, name,
                           dt);
            break;
        }
        int64_t numel = 0;
        if ((rc = read_shape(t, &numel, info, path, name)) != TG_OK)
            break;
        if ((uint64_t)numel * esize != e - b) {
            rc = tg__error(TG_EFORMAT,
                           "%s: tensor '%s': data_offsets span %llu bytes but shape and dtype "
                           "need %llu",
                           path, name, (unsigned long long)(e - b),
                           (unsigned long long)((uint64_t)numel * esize));
            break;
        }
        if (e > data_size) {
            rc = tg__error(TG_EFORMAT,
                           "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the "
                           "data (%llu bytes; file truncated?)",
                           path, name, (unsigned long long)b, (unsigned long long)e,
                           (unsigned long long)data_size);
            break;
        }
        if (b % esize != 0) {
            rc = tg__error(TG_EFORMAT,
                           "%s: tensor '%s': begin offset %llu is misaligned for %s "
                           "(%zu-byte elements)",
                           path, name, (unsigned long long)b, dt, esize);
            break;
        }
        spans[n_spans++] = (span){b, e, name};
        if (t) {
            t->name = g_strdup(name);
            t->numel = numel;
            t->nbytes = (size_t)(e - b);
            t->data = st->file.data + data_start + b;
            t->misaligned = ((data_start + b) % esize) != 0;
            st->n_tensors++;
        } else {
            st->other_dtype[st->n_other] = g_strdup(dt);
            st->other[st->n_other++] = g_strdup(name);
        }
    }
    if (rc == TG_OK) {
        qsort(spans, n_spans, sizeof *spans, span_cmp);
        uint64_t pos = 0;
        for (size_t i = 0; i < n_spans && rc == TG_OK; i++) {
            if (spans[i].begin < pos)
                rc = tg__error(TG_EFORMAT, "%s: tensor '%s' overlaps tensor '%s'", path,
                               spans[i].name, spans[i - 1].name);
            else if (spans[i].begin > pos)
                rc = tg__error(TG_EFORMAT,
                               "%s: %llu unused bytes before tensor '%s' (the data must be "
                               "covered without holes)",
                               path, (unsigned long long)(spans[i].begin - pos), spans[i].name);
            else
                pos = spans[i].end;
        }
        if (rc == TG_OK && pos != data_size)
            rc = tg__error(TG_EFORMAT,
                           "%s: %llu trailing bytes after the last tensor (header says the data "
                           "ends at %llu, file data is %llu bytes)",
                           path, (unsigned long long)(data_size - pos), (unsigned long long)pos,
                           (unsigned long long)data_size);
    }
    free(spans);
    g_list_free(members);
    return rc;
}

tg_status tg__safetensors_open(tg_safetensors *st, const char *path)
{
    memset(st, 0, sizeof *st);
    st->path = g_strdup(path);
    tg_status rc = tg__file_map(&st->file, path);
    if (rc != TG_OK)
        goto fail;
    const unsigned char *d = st->file.data;
    size_t size = st->file.size;
    if (size < 8) {
        rc = tg__error(TG_EFORMAT,
                       "%s: truncated file (%zu bytes; a safetensors file starts "
                       "with an 8-byte header length)",
                       path, size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | d[i];
    if (hlen > MAX_HEADER_SIZE || hlen > size - 8) {
        rc = tg__error(TG_EFORMAT,
                       "%s: header length %llu runs past the end of the file (%zu bytes)", path,
                       (unsigned long long)hlen, size);
        goto fail;
    }
    if (hlen < 2 || d[8] != '{') {
        rc = tg__error(TG_EFORMAT, "%s: header must be a JSON object starting with '{'", path);
        goto fail;
    }
    JsonParser *parser;
    if ((rc = tg__json_parse(&parser, (const char *)d + 8, (size_t)hlen, path)) != TG_OK)
        goto fail;
    JsonNode *root = json_parser_get_root(parser);
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_object_unref(parser);
        rc = tg__error(TG_EFORMAT, "%s: header must be a JSON object", path);
        goto fail;
    }
    rc = parse_header(st, json_node_get_object(root), 8 + hlen, size - 8 - hlen);
    g_object_unref(parser);
    if (rc != TG_OK)
        goto fail;
    st->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    for (size_t i = 0; i < st->n_tensors; i++)
        g_hash_table_insert(st->by_name, st->tensors[i].name, &st->tensors[i]);
    return TG_OK;
fail:
    tg__safetensors_close(st);
    return rc;
}

void tg__safetensors_close(tg_safetensors *st)
{
    if (st->by_name)
        g_hash_table_destroy(st->by_name);
    for (size_t i = 0; i < st->n_tensors; i++)
        g_free(st->tensors[i].name);
    free(st->tensors);
    for (size_t i = 0; i < st->n_other; i++) {
        g_free(st->other[i]);
        g_free(st->other_dtype[i]);
    }
    free(st->other);
    free(st->other_dtype);
    tg__file_unmap(&st->file);
    g_free(st->path);
    memset(st, 0, sizeof *st);
}

const tg_st_tensor *tg__safetensors_find(const tg_safetensors *st, const char *name)
{
    return st->by_name ? g_hash_table_lookup(st->by_name, name) : NULL;
}
