"""Shared helpers of the ABI guard tests: find the public headers and read declarations from them.

The public headers are every `*.h` in the source `include/textgen/` plus the generated ones in
the build tree's `include/textgen/` (version.h). They are found at test time, so a header added
to `include/textgen/` is covered without editing any test.

The parser is deliberately small: it understands the style the public headers use (see
DESIGN.md section 4): `TG_API <return type> tg_name(<params>);` declarations and
`typedef struct tg_x { <members> } tg_x;` definitions without nested braces.
"""

import glob
import os
import re

IDENT = r'[A-Za-z_][A-Za-z0-9_]*'


def list_headers(include_dirs):
    """Every *.h directly in <dir>/textgen/ for each include dir, as {basename: path}, sorted.

    A basename present in two include dirs (source and build tree) is an error: one would shadow
    the other under <textgen/...>."""
    found = {}
    for inc in include_dirs:
        for path in sorted(glob.glob(os.path.join(inc, 'textgen', '*.h'))):
            name = os.path.basename(path)
            if name in found:
                raise SystemExit('error: <textgen/%s> exists both as %s and %s'
                                 % (name, found[name], path))
            found[name] = path
    return dict(sorted(found.items()))


def strip_comments(text):
    """Remove /* */ and // comments (keeping string and character literals and newlines)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(' ' + '\n' * text.count('\n', i, j))
            i = j
        elif text.startswith('//', i):
            j = text.find('\n', i)
            i = n if j < 0 else j
        elif c in '"\'':
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == '\\' else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def strip_preprocessor(text):
    """Blank out preprocessor directives, including their backslash-continued lines."""
    lines = text.split('\n')
    out = []
    cont = False
    for line in lines:
        if cont or line.lstrip().startswith('#'):
            cont = line.rstrip().endswith('\\')
            out.append('')
        else:
            out.append(line)
    return '\n'.join(out)


def code_of(path):
    """The C declarations of a header: no comments, no preprocessor lines."""
    with open(path, encoding='utf-8') as f:
        return strip_preprocessor(strip_comments(f.read()))


class ApiFunction:
    def __init__(self, name, decl, header):
        self.name = name
        self.decl = ' '.join(decl.split())
        self.header = header

    @property
    def params(self):
        return self.decl[self.decl.index('(') + 1:self.decl.rindex(')')]


def api_functions(path):
    """The `TG_API ... name(...);` declarations of a header, in order."""
    code = code_of(path)
    result = []
    for m in re.finditer(r'\bTG_API\b([^;{}]*);', code):
        decl = m.group(1)
        name = re.search(r'(' + IDENT + r')\s*\(', decl)
        if not name:
            raise SystemExit('error: %s: cannot find the function name in "TG_API%s;"'
                             % (path, decl))
        result.append(ApiFunction(name.group(1), decl, os.path.basename(path)))
    return result


def split_top_level(text, sep=','):
    """Split at `sep` outside parentheses and brackets."""
    out, depth, cur = [], 0, ''
    for c in text:
        if c == sep and depth == 0:
            out.append(cur)
            cur = ''
            continue
        depth += {'(': 1, ')': -1, '[': 1, ']': -1}.get(c, 0)
        cur += c
    out.append(cur)
    return [p.strip() for p in out if p.strip()]


def parse_member(decl, path, struct):
    """One member declaration (without `;`) -> [(type text, name, bitfield width or None)].

    Handles `T a;`, `T *a, b;` (several declarators), `T a[4];`, `T (*fn)(args);` and
    `T a : 3;`. The type text of an array member is `T [4]`; of a function pointer, the
    declaration with the name removed, e.g. `tg_status (*)(void *state)`."""
    fp = re.match(r'(.*?\(\s*\*\s*)(' + IDENT + r')(\s*\).*)$', decl)
    if fp:
        return [(fp.group(1) + fp.group(3), fp.group(2), None)]
    result, base = [], None
    for part in split_top_level(decl):
        width = None
        if ':' in part:
            part, width = (x.strip() for x in part.rsplit(':', 1))
        mm = re.match(r'(.*?)\b(' + IDENT + r')\s*((?:\[[^\]]*\])*)$', part)
        if not mm:
            raise SystemExit('error: %s: cannot parse member "%s" of struct %s'
                             % (path, decl, struct))
        prefix, name, arrays = mm.group(1).strip(), mm.group(2), mm.group(3)
        if base is None:
            # `const T *const *` -> base `const T`: what later declarators share.
            base = re.sub(r'(\s*(\*|\bconst\b))+\s*$', '', prefix)
            mtype = prefix
        else:
            if prefix.strip('* ').replace('const', '').strip():
                raise SystemExit('error: %s: cannot parse member "%s" of struct %s'
                                 % (path, decl, struct))
            mtype = (base + ' ' + prefix).strip()
        if arrays:
            mtype += ' ' + arrays.replace(' ', '')
        result.append((mtype, name, width))
    return result


class ApiStruct:
    def __init__(self, name, members, header):
        self.name = name
        self.members = members  # list of (type text, member name, bitfield width or None)
        self.header = header


def api_structs(path):
    """The struct definitions (`struct tg_x { ... }`) of a header, with their members in order."""
    code = code_of(path)
    result = []
    for m in re.finditer(r'\bstruct\s+(' + IDENT + r')\s*\{', code):
        depth, i = 1, m.end()
        while depth and i < len(code):
            depth += {'{': 1, '}': -1}.get(code[i], 0)
            i += 1
        body = code[m.end():i - 1]
        if '{' in body:
            raise SystemExit('error: %s: struct %s has a nested definition; the ABI tests do not '
                             'parse that (and DESIGN.md section 4 does not allow it)'
                             % (path, m.group(1)))
        members = []
        for decl in body.split(';'):
            decl = ' '.join(decl.split())
            if decl:
                members += parse_member(decl, path, m.group(1))
        result.append(ApiStruct(m.group(1), members, os.path.basename(path)))
    return result


def version_nodes(map_path):
    """Names of the version nodes defined in a GNU ld version script."""
    with open(map_path, encoding='utf-8') as f:
        text = strip_comments(f.read())
    text = re.sub(r'#[^\n]*', '', text)
    return re.findall(r'([A-Za-z_][A-Za-z0-9_.]*)\s*\{', text)
