#!/usr/bin/env python3
"""ABI test 3: the built library against the committed baseline (libabigail's abidw/abidiff).

  check (default)  dump the ABI of --lib with abidw, compare it with --baseline using abidiff:
                   - no change:                         pass
                   - only added functions/variables:    pass, and print the report (a release
                                                        that means it updates the baseline, see
                                                        docs/abi.md)
                   - anything else (removed or changed function, changed type, abidiff error):
                                                        FAIL
                   Exit 77 (meson: skipped) only when abidw/abidiff are not installed.
  --write FILE     write the ABI dump of --lib to FILE (used by update-baseline.sh).

Only the public part of the ABI is dumped: the exported functions and the types declared in the
public headers (--headers-dir include/textgen and build/include/textgen, --drop-private-types),
without file locations, build paths or DT_NEEDED entries, so the dump depends neither on where the
tree is built nor on line numbers.
"""

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77

# Options shared by the baseline and the dump of the library under test. Changing them changes
# the baseline: regenerate it (tests/abi/update-baseline.sh) in the same commit.
ABIDW_FLAGS = [
    '--no-corpus-path',          # no path of the .so
    '--no-comp-dir-path',        # no build directory
    '--no-show-locs',            # no file:line of declarations
    '--no-elf-needed',           # dependencies are not part of our ABI
    '--type-id-style', 'hash',   # stable type ids: a baseline update shows only what changed
    '--drop-private-types',      # types not declared in the public headers are left out...
    '--exported-interfaces-only',  # ...and so is everything not reachable from exported symbols
]

# abidiff exit status bits (libabigail's abidiff_status).
ABIDIFF_ERROR = 1
ABIDIFF_USAGE_ERROR = 2
ABIDIFF_ABI_CHANGE = 4
ABIDIFF_ABI_INCOMPATIBLE_CHANGE = 8

# Machine the committed baseline was generated on (sizes and offsets are per ABI).
BASELINE_MACHINE = 'x86_64'


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    return p.returncode, p.stdout


def has_debug_info(lib, readelf):
    rc, out = run([readelf, '-S', '-W', lib])
    return rc == 0 and '.debug_info' in out


def dump(abidw, lib, headers_dirs, out_path):
    cmd = [abidw] + ABIDW_FLAGS
    for d in headers_dirs:
        cmd += ['--headers-dir', d]
    cmd += ['--out-file', out_path, lib]
    rc, out = run(cmd)
    if rc != 0:
        raise SystemExit('error: abidw failed (%d):\n  $ %s\n%s' % (rc, ' '.join(cmd), out))
    if out.strip():
        print(out.rstrip())
    # Translation units are named by their path relative to the build dir ('../lib/x.c', or
    # '../../../lib/x.c' for a deeper build dir): keep it relative to the source root instead, so
    # the dump is the same for any build dir.
    with open(out_path, encoding='utf-8') as f:
        text = f.read()
    text = re.sub(r"(<abi-instr [^>]*\bpath=')(?:\.\./)+", r'\1', text)
    with open(out_path, 'w', encoding='utf-8') as f:
        f.write(text)


def summary_counts(report):
    """{(kind, what): count} from abidiff's summary lines, e.g.
    'Functions changes summary: 0 Removed, 1 Changed, 2 Added functions'."""
    counts = {}
    for m in re.finditer(r'^(Functions|Variables|Function symbols|Variable symbols) changes '
                         r'summary: (.*)$', report, re.M):
        for n, what in re.findall(r'(\d+) (Removed|Changed|Added)', m.group(2)):
            counts[(m.group(1), what)] = counts.get((m.group(1), what), 0) + int(n)
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--abidw', default='abidw')
    ap.add_argument('--abidiff', default='abidiff')
    ap.add_argument('--readelf', default='readelf')
    ap.add_argument('--lib', required=True, help='the built libtextgen.so.N')
    ap.add_argument('--headers-dir', action='append', required=True,
                    help='a directory of public headers (include/textgen, build/include/textgen)')
    ap.add_argument('--baseline', help='the committed ABI dump to compare with')
    ap.add_argument('--write', metavar='FILE', help='write the ABI dump of --lib to FILE instead')
    args = ap.parse_args()

    abidw = shutil.which(args.abidw)
    abidiff = shutil.which(args.abidiff)
    if not abidw or (not args.write and not abidiff):
        print('SKIP: abidw/abidiff not found (Debian package abigail-tools)')
        return SKIP if not args.write else 1

    if not has_debug_info(args.lib, args.readelf):
        print('FAIL: %s has no DWARF (.debug_info): abidiff cannot see types without it. Build '
              'with debug info (the default buildtype=debugoptimized, or -Ddebug=true).'
              % args.lib)
        return 1

    if args.write:
        dump(abidw, args.lib, args.headers_dir, args.write)
        print('wrote %s' % args.write)
        return 0

    if not args.baseline:
        ap.error('--baseline or --write is required')
    if platform.machine() != BASELINE_MACHINE:
        print('SKIP: the committed baseline describes %s, this machine is %s'
              % (BASELINE_MACHINE, platform.machine()))
        return SKIP

    with tempfile.TemporaryDirectory(prefix='tg-abidiff-') as tmp:
        current = os.path.join(tmp, 'current.abi')
        dump(abidw, args.lib, args.headers_dir, current)
        cmd = [abidiff, '--no-show-locs', args.baseline, current]
        rc, report = run(cmd)

    print('$ abidiff %s <dump of %s>  -> exit %d' % (args.baseline, args.lib, rc))
    if report.strip():
        print(report.rstrip())

    if rc & (ABIDIFF_ERROR | ABIDIFF_USAGE_ERROR):
        print('\nFAIL: abidiff could not compare (exit %d)' % rc)
        return 1
    if rc & ABIDIFF_ABI_INCOMPATIBLE_CHANGE:
        print('\nFAIL: INCOMPATIBLE ABI change against the baseline (see above). Never hide a '
              'break by updating the baseline; see docs/abi.md.')
        return 1
    if rc & ABIDIFF_ABI_CHANGE:
        counts = summary_counts(report)
        changed = {k: v for k, v in counts.items() if k[1] != 'Added' and v}
        added = sum(v for k, v in counts.items() if k[1] == 'Added')
        if changed or not added:
            print('\nFAIL: the ABI changed against the baseline in a way other than adding '
                  'functions (%s). A changed struct or signature breaks existing programs; '
                  'see docs/abi.md.'
                  % (', '.join('%d %s %s' % (v, k[1].lower(), k[0].lower())
                               for k, v in sorted(changed.items())) or 'see report'))
            return 1
        print('\nPASS (compatible): %d added symbol(s) not in the baseline. Record them on '
              'purpose with tests/abi/update-baseline.sh: before 0.1.0 in the commit that adds '
              'them; after, in the minor release that adds them, with a new version node in '
              'lib/textgen.map (docs/abi.md).' % added)
        return 0
    print('\nPASS: the ABI equals the baseline')
    return 0


if __name__ == '__main__':
    sys.exit(main())
