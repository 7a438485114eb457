#!/usr/bin/env python3
"""ABI test 1: header hygiene.

Every public header (each *.h in <source>/include/textgen/ and <build>/include/textgen/, found
at test time) must compile ALONE, included twice in a translation unit of its own:
  - as C99:    -std=c99   -Wall -Wextra -pedantic -Werror (and -Wstrict-prototypes)
  - as C++11:  -std=c++11 -Wall -Wextra -pedantic -Werror
with every C and C++ compiler given (gcc/g++ and, when installed, clang/clang++).

The C++ compilations add -Wzero-as-null-pointer-constant -Wold-style-cast: the headers are
used from C++ (bindings/cpp, C++ plugins) and must not make a careful C++ project's build noisy.
Since a header-only compile does not expand macros, one more translation unit, compiled as C99
and as C++11 and C++17 with the same flags, uses every initializer macro (every TG_X_INIT found in
the headers, read back from them), TG_PLUGIN_DEFINE and the other value macros; in C++ its
tg_plugin_get_desc must get C linkage (a C++ plugin is only found by its plain name).

Including the header twice checks its include guard. A further C++ translation unit takes the
address of every TG_API function the header declares; its undefined symbols must be the plain C
names, which proves the declarations are inside `extern "C"` (TG_BEGIN_DECLS).

Finally, every header must be in the installed list (--installed: public_headers and version.h
from include/textgen/meson.build); headers the umbrella <textgen/textgen.h> does not include are
noted.

usage: check_headers.py --include DIR [--include DIR] --cc CC... --cxx CXX... [--nm NM]
                        [--installed FILE...]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abi_headers  # noqa: E402

C_FLAGS = ['-std=c99', '-Wall', '-Wextra', '-pedantic', '-Werror', '-Wstrict-prototypes']
CXX_WARNINGS = ['-Wall', '-Wextra', '-pedantic', '-Werror', '-Wzero-as-null-pointer-constant',
                '-Wold-style-cast']
CXX_FLAGS = ['-std=c++11'] + CXX_WARNINGS

# Value macros that are not TG_X_INIT initializers, used in the macro translation unit.
VALUE_MACROS = ['TG_NUL_TERMINATED', 'TG_TOKEN_AUTO', 'TG_TOKEN_NONE', 'TG_PLUGIN_ABI_VERSION',
                'TG_PROCESSOR_VTABLE_MIN_SIZE', 'TG_PROCESSOR_VTABLE_SIZE',
                'TG_PLUGIN_DESC_MIN_SIZE', 'TG_VERSION_NUMBER']


def init_macros(headers):
    """[(macro, struct type)] for every `#define TG_X_INIT { TG_U32(sizeof(tg_x)), ... }`."""
    found = []
    for path in headers.values():
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for m in re.finditer(r'#define\s+(TG_\w+_INIT)\b[\s\\{]*TG_U32\(sizeof\((tg_\w+)\)\)',
                             text):
            found.append((m.group(1), m.group(2)))
    return found


def macro_tu(inits):
    """A translation unit that expands every initializer and value macro, and defines a plugin."""
    lines = ['#include <textgen/textgen.h>', '']
    for i, (macro, struct) in enumerate(inits):
        lines.append('static const %s init_%d = %s;' % (struct, i, macro))
    lines += [
        'static tg_status create(void **out, const tg_param_value *v, const tg_proc_context *c)',
        '{',
        '    (void)v;',
        '    (void)c;',
        '    *out = TG_NULL;',
        '    return TG_OK;',
        '}',
        'static tg_status apply(void *s, tg_candidates *c, const tg_step_info *step)',
        '{',
        '    (void)s;',
        '    (void)step;',
        '    c->selected = 0;',
        '    return TG_OK;',
        '}',
        'static const tg_processor_vtable vt = {TG_PROCESSOR_VTABLE_SIZE, "hdr", TG_PROC_SELECTOR,',
        '    "doc", TG_NULL, 0, create, apply, TG_NULL, TG_NULL, TG_NULL, TG_NULL, TG_NULL,',
        '    TG_NULL, TG_NULL, {TG_NULL, TG_NULL, TG_NULL, TG_NULL}, TG_NULL};',
        'TG_PLUGIN_DEFINE("hdr", "1", "MIT", "header check", &vt)',
        '',
        'size_t macro_values(void);',
        'size_t macro_values(void)',
        '{',
        '    size_t sum = 0;',
    ]
    for i in range(len(inits)):
        lines.append('    sum += init_%d.struct_size;' % i)
    for m in VALUE_MACROS:
        lines.append('    sum += TG_SIZE(%s);' % m)
    lines += ['    return sum + (TG_VERSION_CHECK(0, 1, 0) ? 1u : 0u);', '}', '']
    return '\n'.join(lines)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    return p.returncode, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--include', action='append', required=True,
                    help='an include dir holding textgen/*.h (source and build tree)')
    ap.add_argument('--cc', action='append', default=[], help='a C compiler')
    ap.add_argument('--cxx', action='append', default=[], help='a C++ compiler')
    ap.add_argument('--nm', default='nm')
    ap.add_argument('--installed', action='append', default=[],
                    help='a header that `meson install` installs')
    args = ap.parse_args()

    problems = []
    if not args.cc:
        problems.append('no C compiler found (install gcc)')
    if not args.cxx:
        problems.append('no C++ compiler found (install g++): the C++ check cannot run')

    headers = abi_headers.list_headers(args.include)
    if 'common.h' not in headers:
        problems.append('no textgen/common.h under %s: wrong --include?' % args.include)
    incflags = ['-I' + d for d in args.include]
    print('public headers: %s' % ' '.join(headers))
    print('C compilers: %s; C++ compilers: %s' % (' '.join(args.cc), ' '.join(args.cxx)))

    n_checks = 0
    with tempfile.TemporaryDirectory(prefix='tg-abi-headers-') as tmp:
        for name, path in headers.items():
            tu = '#include <textgen/%s>\n#include <textgen/%s>\n' % (name, name)
            for lang, compilers, flags, ext in (('C99', args.cc, C_FLAGS, 'c'),
                                                ('C++11', args.cxx, CXX_FLAGS, 'cpp')):
                src = os.path.join(tmp, 'only_%s.%s' % (name.replace('.', '_'), ext))
                with open(src, 'w') as f:
                    f.write(tu)
                for comp in compilers:
                    cmd = [comp] + flags + incflags + ['-c', src, '-o', src + '.o']
                    rc, out = run(cmd)
                    n_checks += 1
                    if rc != 0:
                        problems.append('<textgen/%s> does not compile alone as %s with %s:\n'
                                        '  $ %s\n%s' % (name, lang, os.path.basename(comp),
                                                        ' '.join(cmd), out.rstrip()))
                    else:
                        print('ok   %-14s %-6s %s' % (name, lang, os.path.basename(comp)))

            # extern "C": a C++ TU referencing every function must need the unmangled names.
            funcs = [f.name for f in abi_headers.api_functions(path)]
            if not funcs or not args.cxx:
                continue
            src = os.path.join(tmp, 'linkage_%s.cpp' % name.replace('.', '_'))
            with open(src, 'w') as f:
                f.write('#include <textgen/%s>\n' % name)
                f.write('typedef void (*tg_abi_fn)(void);\n')
                f.write('extern const tg_abi_fn tg_abi_refs[];\n')
                f.write('const tg_abi_fn tg_abi_refs[] = {\n')
                for fn in funcs:
                    f.write('    reinterpret_cast<tg_abi_fn>(&%s),\n' % fn)
                f.write('};\n')
            cmd = [args.cxx[0]] + CXX_FLAGS + incflags + ['-c', src, '-o', src + '.o']
            rc, out = run(cmd)
            n_checks += 1
            if rc != 0:
                problems.append('linkage check of <textgen/%s> does not compile:\n  $ %s\n%s'
                                % (name, ' '.join(cmd), out.rstrip()))
                continue
            rc, out = run([args.nm, '-u', src + '.o'])
            undefined = set(line.split()[-1] for line in out.splitlines() if line.strip())
            missing = [fn for fn in funcs if fn not in undefined]
            if rc != 0 or missing:
                mangled = sorted(s for s in undefined if s.startswith('_Z'))
                problems.append('<textgen/%s>: %s not declared with C linkage in C++ (put the '
                                'declarations between TG_BEGIN_DECLS and TG_END_DECLS); '
                                'the object needs: %s'
                                % (name, ', '.join(missing), ', '.join(mangled) or out.strip()))
            else:
                print('ok   %-14s extern "C" for %d functions' % (name, len(funcs)))

        # Every macro expanded, as C99 and as C++11/C++17 with the strict C++ warnings.
        inits = init_macros(headers)
        if len(inits) < 5:
            problems.append('found only %d TG_X_INIT macros (%s): did their spelling change?'
                            % (len(inits), ', '.join(m for m, _ in inits)))
        tu = macro_tu(inits)
        for lang, compilers, flags, ext in (
                ('C99', args.cc, C_FLAGS, 'c'),
                ('C++11', args.cxx, CXX_FLAGS, 'cpp'),
                ('C++17', args.cxx, ['-std=c++17'] + CXX_WARNINGS, 'cpp')):
            src = os.path.join(tmp, 'macros_%s.%s' % (lang.replace('+', 'x'), ext))
            with open(src, 'w') as f:
                f.write(tu)
            for comp in compilers:
                cmd = [comp] + flags + incflags + ['-c', src, '-o', src + '.o']
                rc, out = run(cmd)
                n_checks += 1
                if rc != 0:
                    problems.append('the macros (%d TG_X_INIT, TG_PLUGIN_DEFINE, ...) do not '
                                    'compile as %s with %s:\n  $ %s\n%s'
                                    % (len(inits), lang, os.path.basename(comp), ' '.join(cmd),
                                       out.rstrip()))
                    continue
                rc, out = run([args.nm, '--defined-only', src + '.o'])
                if 'tg_plugin_get_desc' not in out.split():
                    problems.append('TG_PLUGIN_DEFINE compiled as %s with %s does not define the '
                                    'plain symbol tg_plugin_get_desc (C linkage):\n%s'
                                    % (lang, os.path.basename(comp), out.rstrip()))
                else:
                    print('ok   macros (%d TG_X_INIT, TG_PLUGIN_DEFINE) %-6s %s'
                          % (len(inits), lang, os.path.basename(comp)))

    # Coverage: every public header is installed (public_headers); the umbrella is informative.
    installed = set(os.path.basename(h) for h in args.installed)
    if installed:
        for name in headers:
            if name not in installed:
                problems.append('<textgen/%s> is in include/textgen/ but not in public_headers '
                                '(include/textgen/meson.build): `meson install` would not '
                                'install it' % name)
    umbrella = headers.get('textgen.h')
    if umbrella:
        with open(umbrella, encoding='utf-8') as f:
            included = set(re.findall(r'#\s*include\s*<textgen/([^>]+)>', f.read()))
        for name in headers:
            if name != 'textgen.h' and name not in included:
                print('NOTE: <textgen/%s> is not included by the umbrella <textgen/textgen.h>'
                      % name)

    if problems:
        print('\nFAIL: %d problem(s):' % len(problems))
        for p in problems:
            print('- ' + p)
        return 1
    print('\nPASS: %d headers, %d compilations' % (len(headers), n_checks))
    return 0


if __name__ == '__main__':
    sys.exit(main())
