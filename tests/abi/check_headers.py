#!/usr/bin/env python3
"""ABI test 1: header hygiene.

Every public header (each *.h in <source>/include/textgen/ and <build>/include/textgen/, found
at test time) must compile ALONE, included twice in a translation unit of its own:
  - as C99:    -std=c99   -Wall -Wextra -pedantic -Werror (and -Wstrict-prototypes)
  - as C++11:  -std=c++11 -Wall -Wextra -pedantic -Werror
with every C and C++ compiler given (gcc/g++ and, when installed, clang/clang++).

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
CXX_FLAGS = ['-std=c++11', '-Wall', '-Wextra', '-pedantic', '-Werror']


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
