#!/usr/bin/env python3
"""ABI test 5: the public headers follow DESIGN.md section 4, and test_layout.c covers them.

Read from every *.h under include/textgen/ (source and build tree, found at test time):
  - no variadic TG_API function, no struct passed or returned by value;
  - ABI struct members: no bool/_Bool, enum or bitfield, no plain int/long/short/unsigned
    (fixed-width integers only);
  - every `*_options` struct begins with `uint32_t struct_size`, has a TG_X_OPTIONS_INIT macro
    and a TG_API `tg_x_options_init(opts, struct_size)`;
and the explicit table of tests/abi/test_layout.c is complete and current:
  - every public struct has a STRUCT() row and MEMBER() rows for exactly its members, in
    declaration order, with the declared types; no row names a struct or member that is gone;
  - every struct with a TG_X_INIT macro has a VERSIONED() row using it;
  - every `*_options` struct has a CHECK_DEFAULT_EQUALS_INIT() row.

usage: check_api_rules.py --include DIR [--include DIR] --layout-test tests/abi/test_layout.c
"""

import argparse
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abi_headers  # noqa: E402

BANNED_MEMBER_WORDS = {
    'bool': 'bool (use uint32_t or int32_t 0/1)',
    '_Bool': '_Bool (use uint32_t or int32_t 0/1)',
    'enum': 'an enum type (use a fixed-width integer holding TG_* constants)',
    'long': 'long (its size differs between platforms; use int64_t)',
    'int': 'int (use int32_t)',
    'short': 'short (use int16_t)',
    'unsigned': 'unsigned (use uint32_t)',
    'signed': 'signed (use a fixed-width integer)',
}


def norm_type(t):
    t = re.sub(r'\s*\*\s*', ' * ', t)
    return ' '.join(t.split())


def macro_calls(text, macro, named=False):
    """The argument lists of every `macro(...)` in text (macro: a regex of names), split at
    top-level commas, in file order; with named, (name, arguments) pairs."""
    calls = []
    for m in re.finditer(r'\b(' + macro + r')\(', text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {'(': 1, ')': -1}.get(text[i], 0)
            i += 1
        args = abi_headers.split_top_level(text[m.end():i - 1])
        calls.append((m.group(1), args) if named else args)
    return calls


def comparable(mtype):
    """Type text to compare with the table, or None for function pointers (whose parameter
    names may differ; _Generic in test_layout.c checks their exact type)."""
    return None if '(' in mtype else norm_type(mtype)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--include', action='append', required=True)
    ap.add_argument('--layout-test', required=True)
    args = ap.parse_args()

    problems = []
    headers = abi_headers.list_headers(args.include)

    structs, functions, init_macros, struct_typedefs = {}, {}, set(), set()
    for name, path in headers.items():
        for s in abi_headers.api_structs(path):
            structs[s.name] = s
        for f in abi_headers.api_functions(path):
            functions[f.name] = f
        with open(path, encoding='utf-8') as fh:
            text = abi_headers.strip_comments(fh.read())
        init_macros.update(re.findall(r'#\s*define\s+(TG_[A-Z0-9_]+_INIT)\b', text))
        code = abi_headers.code_of(path)
        struct_typedefs.update(re.findall(r'\btypedef\s+struct\s+\w+\s+(\w+)\s*;', code))
        struct_typedefs.update(re.findall(r'\btypedef\s+struct\s+\w+\s*\{[^{}]*\}\s*(\w+)\s*;',
                                          code))
    print('public structs: %s' % ' '.join(sorted(structs)))

    # --- Rules on functions ---
    for f in functions.values():
        ret = f.decl[:f.decl.index(f.name)]
        params = abi_headers.split_top_level(f.params)
        if '...' in params:
            problems.append('%s (%s) is variadic: cgo and most FFIs cannot call it'
                            % (f.name, f.header))
        for where, text in [('returns', ret)] + [('takes (parameter %d)' % (i + 1), p)
                                                  for i, p in enumerate(params)]:
            words = set(re.findall(abi_headers.IDENT, text))
            byval = [t for t in words & (struct_typedefs | set(structs)) if '*' not in text]
            if byval or re.search(r'\bstruct\b', text) and '*' not in text:
                problems.append('%s (%s) %s a struct by value (`%s`): pass a const pointer'
                                % (f.name, f.header, where, text.strip()))

    # --- Rules on structs ---
    for s in structs.values():
        for mtype, mname, width in s.members:
            if width is not None:
                problems.append('%s.%s (%s) is a bitfield' % (s.name, mname, s.header))
            if '*' in mtype or '(' in mtype:
                continue  # pointers (and function pointers) are fine
            for w in re.findall(abi_headers.IDENT, mtype):
                if w in BANNED_MEMBER_WORDS:
                    problems.append('%s.%s (%s) is %s' % (s.name, mname, s.header,
                                                          BANNED_MEMBER_WORDS[w]))
        if s.name.endswith('_options'):
            first = s.members[0] if s.members else None
            if not first or first[1] != 'struct_size' or norm_type(first[0]) != 'uint32_t':
                problems.append('%s (%s) must begin with `uint32_t struct_size;`'
                                % (s.name, s.header))
            macro = s.name.upper() + '_INIT'
            if macro not in init_macros:
                problems.append('%s (%s) has no %s macro' % (s.name, s.header, macro))
            fn = s.name + '_init'
            if fn not in functions:
                problems.append('%s (%s) has no `TG_API tg_status %s(%s *opts, '
                                'uint32_t struct_size);`' % (s.name, s.header, fn, s.name))

    # --- test_layout.c covers every struct, member and _INIT macro ---
    with open(args.layout_test, encoding='utf-8') as fh:
        layout = abi_headers.strip_comments(fh.read())
    layout = re.sub(r'#\s*define[^\n]*(\\\n[^\n]*)*', '', layout)  # not the macro definitions
    table_structs = set(a[0] for a in macro_calls(layout, 'STRUCT'))
    table_members = {}
    for name, a in macro_calls(layout, 'MEMBER|MEMBER_ARRAY', named=True):  # in file order
        t = a[2] if name == 'MEMBER' else '%s [%s]' % (a[2], a[3])
        table_members.setdefault(a[0], []).append((a[1], comparable(t)))
    versioned = dict((a[0], a[1]) for a in macro_calls(layout, 'VERSIONED'))
    defaults = set(a[0] for a in macro_calls(layout, 'CHECK_DEFAULT_EQUALS_INIT'))
    rel = os.path.basename(args.layout_test)

    for s in structs.values():
        if s.name not in table_structs:
            problems.append('%s (%s) has no STRUCT() row in %s' % (s.name, s.header, rel))
        declared = [(m, comparable(t)) for t, m, _ in s.members]
        listed = table_members.get(s.name, [])
        if declared != listed:
            problems.append('%s (%s): the MEMBER() rows of %s do not match the header:\n'
                            '    header: %s\n    table:  %s'
                            % (s.name, s.header, rel,
                               ', '.join('%s %s' % (t or '(*fn)', m) for m, t in declared),
                               ', '.join('%s %s' % (t or '(*fn)', m) for m, t in listed)
                               or '(none)'))
        macro = s.name.upper() + '_INIT'
        if macro in init_macros and versioned.get(s.name) != macro:
            problems.append('%s (%s) has %s but %s has no VERSIONED(%s, %s) row'
                            % (s.name, s.header, macro, rel, s.name, macro))
        if s.name.endswith('_options') and s.name not in defaults:
            problems.append('%s (%s) has no CHECK_DEFAULT_EQUALS_INIT() row in %s'
                            % (s.name, s.header, rel))
    for name in sorted((table_structs | set(table_members) | set(versioned)) - set(structs)):
        problems.append('%s has rows in %s but is no public struct (stale table?)' % (name, rel))

    if problems:
        print('\nFAIL: %d problem(s):' % len(problems))
        for p in problems:
            print('- ' + p)
        return 1
    print('\nPASS: %d structs, %d functions follow the rules; %s lists every struct and member'
          % (len(structs), len(functions), rel))
    return 0


if __name__ == '__main__':
    sys.exit(main())
