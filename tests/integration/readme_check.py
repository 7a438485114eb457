#!/usr/bin/env python3
"""Runs every command of README.md, so the README cannot drift from the code:

- `scripts/setup.sh run` in a scratch build directory (TG_BUILD_DIR), the first command of the
  README (its packages are installed already: this is a test run);
- each `textgen ...` line of the README's sh blocks, with the build tree's textgen, from a
  scratch copy of the places the README names (models/, examples/);
- the `make -C examples/plugin` line, against the build tree's uninstalled textgen.pc;
- the C example, compiled with pkg-config and run.
`scripts/setup.sh test` is what CI runs, so it is not repeated here.

usage: readme_check.py SOURCE_ROOT BUILD_ROOT [--skip-setup-run]"""
import os, re, shlex, shutil, subprocess, sys, tempfile

src, build = sys.argv[1], sys.argv[2]
skip_setup = "--skip-setup-run" in sys.argv
readme = open(os.path.join(src, "README.md"), encoding="utf-8").read()
blocks = re.findall(r"```(\w*)\n(.*?)```", readme, re.S)
sh_lines = [l.strip() for lang, b in blocks if lang == "sh" for l in b.splitlines() if l.strip()]
c_blocks = [b for lang, b in blocks if lang == "c"]
failures = []

def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)

work = tempfile.mkdtemp(prefix="tg-readme-")
try:
    shutil.copytree(os.path.join(src, "examples"), os.path.join(work, "examples"))
    os.symlink(os.path.join(src, "models"), os.path.join(work, "models"))
    env = dict(os.environ)
    env["PATH"] = os.path.join(build, "tools", "textgen") + os.pathsep + env["PATH"]
    env["PKG_CONFIG_PATH"] = os.path.join(build, "meson-uninstalled")
    env["LD_LIBRARY_PATH"] = os.path.join(build, "lib")
    env.pop("TEXTGEN_MODEL", None)

    n_run = 0
    for line in sh_lines:
        cmd = line.split("  #")[0].strip()  # drop trailing comments
        words = shlex.split(cmd, comments=True)
        if not words:
            continue
        if words[0] == "scripts/setup.sh":
            if words[1:] == ["run"] and not skip_setup:
                e = dict(env, TG_BUILD_DIR=os.path.join(work, "build"))
                r = run(["scripts/setup.sh", "run"], cwd=src, env=e)
                n_run += 1
                if r.returncode != 0 or len(r.stdout.strip()) < 100:
                    failures.append(f"{cmd}: exit {r.returncode}, stdout {r.stdout[-300:]!r}, "
                                    f"stderr {r.stderr[-800:]!r}")
            continue  # 'test' and 'sanitize' are what CI runs
        if words[0] not in ("textgen", "make") and "=" not in words[0]:
            failures.append(f"README line not covered by this test: {line}")
            continue
        r = run(cmd, shell=True, cwd=work, env=env)
        n_run += 1
        out_ok = words[0] == "make" or r.stdout.strip() != ""
        if r.returncode != 0 or not out_ok:
            failures.append(f"{cmd}: exit {r.returncode}, stderr {r.stderr.strip()[-500:]!r}")

    for i, code in enumerate(c_blocks):
        c = os.path.join(work, f"example{i}.c")
        open(c, "w").write(code)
        flags = run(["pkg-config", "--cflags", "--libs", "textgen"], env=env).stdout.split()
        exe = os.path.join(work, f"example{i}")
        r = run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-o", exe, c] + flags, env=env)
        if r.returncode != 0:
            failures.append(f"C example {i} does not compile: {r.stderr[-800:]}")
            continue
        r = run([exe], cwd=work, env=env)
        n_run += 1
        if r.returncode != 0 or "[max_tokens]" not in r.stdout:
            failures.append(f"C example {i}: exit {r.returncode}, stdout {r.stdout[-300:]!r}, "
                            f"stderr {r.stderr[-300:]!r}")
finally:
    shutil.rmtree(work, ignore_errors=True)

for f in failures:
    print("FAIL:", f)
print(f"{n_run} README commands run, {len(failures)} failed")
sys.exit(1 if failures else 0)
