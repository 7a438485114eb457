#!/usr/bin/env python3
"""ABI test 2: exported symbols.

The dynamic symbols libtextgen.so defines (`nm -D --defined-only`) must be
  - functions whose names start with `tg_`, plus the version-node symbols themselves
    (TEXTGEN_0.1, ...: the ABS symbols GNU ld creates for each node), nothing else;
  - exactly the set of functions declared `TG_API` in the public headers (every *.h under
    include/textgen/ in the source and build trees, found at test time);
  - each bound to a version node defined in lib/textgen.map, as the default version (`@@`),
    global, default visibility (checked with `readelf --dyn-syms -W`).

usage: check_symbols.py --lib LIB --map MAP --include DIR [--include DIR] [--nm NM]
                        [--readelf READELF]
"""

import argparse
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abi_headers  # noqa: E402


def output_of(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    if p.returncode != 0:
        raise SystemExit('error: `%s` failed (%d):\n%s' % (' '.join(cmd), p.returncode, p.stderr))
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--lib', required=True, help='the built libtextgen.so')
    ap.add_argument('--map', required=True, help='the linker version script (lib/textgen.map)')
    ap.add_argument('--include', action='append', required=True)
    ap.add_argument('--nm', default='nm')
    ap.add_argument('--readelf', default='readelf')
    args = ap.parse_args()

    problems = []
    nodes = abi_headers.version_nodes(args.map)
    if not nodes:
        problems.append('no version node found in %s' % args.map)
    print('version nodes in %s: %s' % (os.path.basename(args.map), ' '.join(nodes)))

    # What the headers promise.
    declared = {}
    for name, path in abi_headers.list_headers(args.include).items():
        for fn in abi_headers.api_functions(path):
            if fn.name in declared:
                problems.append('%s is declared TG_API in both %s and %s'
                                % (fn.name, declared[fn.name].header, name))
            declared[fn.name] = fn
            if not fn.name.startswith('tg_'):
                problems.append('%s (%s) is declared TG_API but does not start with tg_'
                                % (fn.name, name))
    print('TG_API functions declared in the headers: %d' % len(declared))

    # What the library exports: nm -D --defined-only.
    exported = {}
    for line in output_of([args.nm, '-D', '--defined-only', args.lib]).splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        kind, sym = fields[-2], fields[-1]
        name = re.split(r'@', sym, maxsplit=1)[0]
        exported[name] = kind
    for name, kind in sorted(exported.items()):
        if name in nodes:
            if kind != 'A':
                problems.append('%s has the name of a version node but nm type %s, not A'
                                % (name, kind))
        elif not name.startswith('tg_'):
            problems.append('exported symbol %s (nm type %s) does not start with tg_ '
                            '(a missing `static`, or a library linked in statically?)'
                            % (name, kind))
        elif kind not in ('T', 't'):
            problems.append('exported symbol %s has nm type %s: only functions may be exported'
                            % (name, kind))
    print('symbols defined in %s: %d (%d tg_*)'
          % (os.path.basename(args.lib), len(exported),
             sum(1 for n in exported if n.startswith('tg_'))))

    # Both directions, by name.
    tg_exported = set(n for n in exported if n.startswith('tg_'))
    missing = sorted(set(declared) - tg_exported)
    extra = sorted(tg_exported - set(declared))
    for name in missing:
        problems.append('MISSING: %s is declared TG_API in <textgen/%s> but not exported by the '
                        'library (not implemented, misspelt, or built without TG_API?)'
                        % (name, declared[name].header))
    for name in extra:
        problems.append('EXTRA: %s is exported but declared TG_API in no public header '
                        '(make it static, or declare it in include/textgen/)' % name)

    # Versions, type, binding and visibility: readelf --dyn-syms -W.
    #   Num: Value Size Type Bind Vis Ndx Name[@[@]VERSION]
    seen = set()
    for line in output_of([args.readelf, '--dyn-syms', '-W', args.lib]).splitlines():
        fields = line.split()
        if len(fields) < 8 or not fields[0].rstrip(':').isdigit():
            continue
        typ, bind, vis, ndx, sym = fields[3], fields[4], fields[5], fields[6], fields[7]
        if ndx == 'UND':
            continue
        m = re.match(r'([^@]+)(@@?)?(.*)$', sym)
        name, at, version = m.group(1), m.group(2), m.group(3)
        if not name.startswith('tg_'):
            continue
        seen.add(name)
        if not at:
            problems.append('%s has no symbol version (is lib/textgen.map passed to the linker?)'
                            % name)
        elif version not in nodes:
            problems.append('%s has version %s, which is not a node of %s (%s)'
                            % (name, version, os.path.basename(args.map), ' '.join(nodes)))
        elif at != '@@':
            problems.append('%s@%s is a non-default (hidden) version' % (name, version))
        if typ != 'FUNC' or bind != 'GLOBAL' or vis != 'DEFAULT':
            problems.append('%s is %s %s %s, expected FUNC GLOBAL DEFAULT' % (name, typ, bind, vis))
    for name in sorted(tg_exported - seen):
        problems.append('%s is listed by nm but not by readelf --dyn-syms' % name)

    if problems:
        print('\nFAIL: %d problem(s):' % len(problems))
        for p in problems:
            print('- ' + p)
        return 1
    print('\nPASS: the %d exported tg_* functions are exactly the TG_API declarations, all in '
          'version node(s) %s' % (len(tg_exported), ' '.join(sorted(set(nodes)))))
    return 0


if __name__ == '__main__':
    sys.exit(main())
