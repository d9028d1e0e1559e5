#!/usr/bin/env python3
"""check_layers.py [--root DIR] | --self-test

The layering of docs/architecture.md, enforced. Every source file under
include/, lib/, tools/, bench/ and examples/ belongs to a layer (by its
directory or name); a file may use only its own layer and the layers below
it in MAY_USE. Three things count as "using":

  include  an #include "..." (or <noxrunner...>) that resolves to a file of
           the tree;
  call     a call of a nox__ function whose (non-static) definition is in a
           .c file of another layer ("declare" when it is a prototype at
           column 0 of a header);
  state    a fleet-only member or op of a core struct (FLEET_STATE) touched
           outside the fleet.

Besides the table: backends (lib/http, lib/local) never use each other,
lib/worker and lib/tar never use a core header (no nox_req_t), and tools,
bench and examples use the public headers (include/) and their own files
only.

Today's tree breaks the rule in known places; ALLOWLIST names each one with
its reason and the move of issue 14 that removes it. The check fails on a
violation not in the list, and on an entry of the list that no longer
happens (delete it: the list only shrinks). Exit status 0 when clean, 1 on
any failure.
"""
import os
import re
import sys
import tempfile

# ---- the layers -----------------------------------------------------------

# Public core API: the umbrella header, the version header and the
# utilities' header.
API_HEADERS = {"include/noxrunner.h", "include/noxrunner/version.h",
               "include/noxrunner/util.h"}
# Generic helpers that know no request, client or backend (they may use the
# public error codes): usable by every layer of lib/.
BASE_FILES = {"lib/list.h", "lib/buf.h", "lib/buf.c", "lib/text.h",
              "lib/text.c"}
# The fleet files that still sit in lib/ beside the core (issue 14 moves
# them to lib/fleet/).
FLEET_TODAY = {"lib/sandbox.c", "lib/registry.c", "lib/registry.h",
               "lib/fanout.c", "lib/wait.c"}
LIB_SUBDIRS = {"http": "http", "local": "local", "worker": "worker",
               "tar": "tar", "fleet": "fleet"}
BACKENDS = {"http", "local"}

# What each layer may use besides itself. Layers not listed here (tools,
# bench, examples) use the public headers only, see public_only().
MAY_USE = {
    "api": set(),
    "base": {"api"},
    "worker": {"api", "base"},
    "tar": {"api", "base", "worker"},
    "core": {"api", "base", "worker", "tar"},
    "http": {"api", "base", "worker", "tar", "core"},
    "local": {"api", "base", "worker", "tar", "core"},
    # The public API plus the client's pre-close hook: the header of that
    # hook goes into FLEET_CORE_HOOK when issue 14 makes it.
    "fleet": {"api", "base"},
    "sync": {"api"},
}
FLEET_CORE_HOOK = set()

# Members and ops of the core's structs that exist for the fleet only.
FLEET_STATE = ["->registry", "->close_deferred", "->observer",
               "->observer_data", "NOX__OP_WAIT"]

SOURCE_EXT = (".c", ".h")
SCANNED_DIRS = ("include", "lib", "tools", "bench", "examples")


def layer_of(path):
    """The layer of a file (path relative to the root, with '/')."""
    parts = path.split("/")
    top = parts[0]
    if top == "include":
        if path in API_HEADERS:
            return "api"
        if path == "include/noxrunner/sandbox.h":
            return "fleet"
        if path == "include/noxrunner/sync.h":
            return "sync"
        raise LayerError(path + ": a public header of no layer: add it to "
                         "check_layers.py and docs/architecture.md")
    if top in ("tools", "bench", "examples"):
        return top + ("/" + parts[1] if top == "tools" else "")
    if top == "lib":
        if path in BASE_FILES:
            return "base"
        if len(parts) == 2:
            if path in FLEET_TODAY:
                return "fleet"
            if path == "lib/sync.c":
                return "sync"
            return "core"
        if parts[1] in LIB_SUBDIRS:
            return LIB_SUBDIRS[parts[1]]
        raise LayerError(path + ": lib/" + parts[1] + "/ is no layer: add "
                         "it to check_layers.py and docs/architecture.md")
    raise LayerError(path + ": outside the scanned directories")


def public_only(layer):
    return layer.startswith("tools/") or layer in ("bench", "examples")


def may_use(user, used_path, used_layer):
    """None when allowed, else why not."""
    if user == used_layer:
        return None
    if public_only(user):
        if used_path.startswith("include/"):
            return None
        return "only public headers (include/) and its own files"
    if used_layer == "core" and user == "fleet" and used_path in FLEET_CORE_HOOK:
        return None
    if user in BACKENDS and used_layer in BACKENDS:
        return "backends never use each other"
    if used_layer in MAY_USE.get(user, set()):
        return None
    if user in ("tar", "worker") and used_layer == "core":
        return "lib/tar and lib/worker never see a request or the core"
    return "%s is not below %s" % (used_layer, user)


class LayerError(Exception):
    pass


# ---- reading the sources --------------------------------------------------

COMMENT_OR_STRING = re.compile(
    r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"]+)[>"]', re.M)
DEFINITION = re.compile(
    r'^(?!static\b)(?:[A-Za-z_][\w \t\*]*?[\s\*])(nox__\w+)\s*\(([^;{}]*?)\)\s*\{',
    re.M)
CALL = re.compile(r'\b(nox__\w+)\s*\(')


def strip(text):
    """Comments and string literals blanked (newlines kept)."""
    def blank(m):
        s = m.group(0)
        if s.startswith('"') or s.startswith("'"):
            return s[0] + s[-1]
        return re.sub(r"[^\n]", " ", s)
    return COMMENT_OR_STRING.sub(blank, text)


def sources(root):
    out = []
    for d in SCANNED_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, d)):
            dirnames.sort()
            for f in sorted(filenames):
                if f.endswith(SOURCE_EXT):
                    full = os.path.join(dirpath, f)
                    out.append(os.path.relpath(full, root).replace(os.sep, "/"))
    return out


def resolve(root, path, quote, name):
    """The tree file an include names, or None (a system header)."""
    cands = []
    if quote == '"':
        cands.append(os.path.join(os.path.dirname(path), name))
        if path.startswith("lib/"):
            cands.append(os.path.join("lib", name))
    elif not name.startswith("noxrunner"):
        return None
    cands.append(os.path.join("include", name))
    for c in cands:
        c = os.path.normpath(c).replace(os.sep, "/")
        if os.path.isfile(os.path.join(root, c)):
            return c
    return None


def scan(root):
    """(violations, errors): violations as {(file, kind, target): why}."""
    errors = []
    files = sources(root)
    layers = {}
    texts = {}
    for f in files:
        try:
            layers[f] = layer_of(f)
        except LayerError as e:
            errors.append(str(e))
            continue
        with open(os.path.join(root, f), encoding="utf-8",
                  errors="replace") as fh:
            texts[f] = fh.read()

    found = {}

    # Includes (read before stripping: the name is a string literal).
    for f, text in texts.items():
        for m in INCLUDE.finditer(strip_comments_only(text)):
            quote, name = m.group(1), m.group(2)
            target = resolve(root, f, quote, name)
            if target is None:
                if quote == '"':
                    errors.append('%s: #include "%s" names no file of the '
                                  "tree" % (f, name))
                continue
            if target not in layers:
                continue
            why = may_use(layers[f], target, layers[target])
            if why:
                found[(f, "include", target)] = "%s (%s) includes %s (%s): %s" % (
                    f, layers[f], target, layers[target], why)

    # Calls of nox__ functions defined in another layer.
    stripped = {f: strip(t) for f, t in texts.items()}
    defined = {}
    for f, text in stripped.items():
        if not f.endswith(".c"):
            continue
        for m in DEFINITION.finditer(text):
            defined.setdefault(m.group(1), f)
    for f, text in stripped.items():
        for m in CALL.finditer(text):
            name = m.group(1)
            home = defined.get(name)
            if home is None or home == f:
                continue
            why = may_use(layers[f], home, layers[home])
            if not why:
                continue
            # A prototype at column 0 of a header declares, it does not call.
            bol = text.rfind("\n", 0, m.start()) + 1
            kind, verb = "call", "calls"
            if f.endswith(".h") and not text[bol:bol + 1].isspace():
                kind, verb = "declare", "declares"
            found[(f, kind, name)] = "%s (%s) %s %s of %s (%s): %s" % (
                f, layers[f], verb, name, home, layers[home], why)

    # The fleet's state in the core's structs.
    for f, text in stripped.items():
        if layers[f] == "fleet":
            continue
        for token in FLEET_STATE:
            pat = re.escape(token) + r"\b"
            if re.search(pat, text):
                found[(f, "state", token)] = (
                    "%s (%s) touches %s, fleet state in a core struct" % (
                        f, layers[f], token))
    return found, errors


def strip_comments_only(text):
    """Comments blanked, strings kept (for #include lines)."""
    def blank(m):
        s = m.group(0)
        if s.startswith("/"):
            return re.sub(r"[^\n]", " ", s)
        return s
    return COMMENT_OR_STRING.sub(blank, text)


# ---- today's violations: the to-do list of issue 14 -----------------------
#
# (file, kind, target, reason). Each entry is a fact of today's tree; the
# check fails as soon as one is no longer true, so delete it in the commit
# that removes it (and its line in docs/architecture.md).

def _group(reason, *entries):
    return [e + (reason,) for e in entries]


ALLOWLIST = (
    # -- the core reaches up into the fleet --
    _group("nox_client_stats() (declared in noxrunner/sandbox.h) is core code "
           "counting fleet handles; remove when issue 14 moves the stats' "
           "sandbox count into lib/fleet",
           ("lib/admission.c", "include", "include/noxrunner/sandbox.h"),
           ("lib/admission.c", "call", "nox__registry_count"),
           ("lib/internal.h", "declare", "nox__registry_count"))
    + _group("client close runs the registry's delete phase by name; remove "
             "when issue 14 moves it behind the client's generic pre-close "
             "hook",
             ("lib/client.c", "call", "nox__registry_close"),
             ("lib/client.c", "call", "nox__registry_free"),
             ("lib/internal.h", "declare", "nox__registry_close"),
             ("lib/internal.h", "declare", "nox__registry_free"),
             ("lib/client.c", "state", "->close_deferred"),
             ("lib/start.c", "state", "->close_deferred"),
             ("lib/registry.c", "call", "nox__client_close_resume"))
    + _group("the http backend knows the registry's close phase (deletes "
             "still retry); remove when issue 14 moves that phase behind the "
             "pre-close hook (the backend then sees a plain, not yet closing "
             "client)",
             ("lib/http/engine.c", "state", "->close_deferred"))
    + _group("the dispatcher runs the wait-ready poller as a pseudo-backend "
             "(op NOX__OP_WAIT); remove when issue 14 moves the readiness "
             "poller to lib/fleet on top of nox_exec()",
             ("lib/client.c", "call", "nox__wait_start"),
             ("lib/client.c", "call", "nox__wait_abort"),
             ("lib/client.c", "state", "NOX__OP_WAIT"),
             ("lib/req.c", "state", "NOX__OP_WAIT"),
             ("lib/start.c", "state", "NOX__OP_WAIT"),
             ("lib/internal.h", "state", "NOX__OP_WAIT"),
             ("lib/internal.h", "declare", "nox__wait_start"),
             ("lib/internal.h", "declare", "nox__wait_abort"),
             ("lib/internal.h", "declare", "nox__probe_not_ready"))
    + _group("every request carries the sandbox handles' completion "
             "observer; remove when issue 14 moves the handles to lib/fleet, "
             "wrapping the public callbacks instead",
             ("lib/req.c", "state", "->observer"))
    # -- the fleet reaches down past the public API --
    + _group("the fleet is built on internal.h (client and request structs), "
             "not on the public API; remove when issue 14 moves sandbox.c, "
             "registry.c, fanout.c and wait.c to lib/fleet",
             ("lib/registry.h", "include", "lib/internal.h"),
             ("lib/wait.c", "include", "lib/internal.h"))
    + _group("the fleet records nox_client_last_error() through the core's "
             "private recorder; remove when issue 14 moves it to lib/fleet "
             "with a public way to record it",
             ("lib/fanout.c", "call", "nox__api_enter"),
             ("lib/fanout.c", "call", "nox__api_fail"),
             ("lib/fanout.c", "call", "nox__api_leave"),
             ("lib/registry.c", "call", "nox__api_enter"),
             ("lib/registry.c", "call", "nox__api_fail"),
             ("lib/registry.c", "call", "nox__api_leave"),
             ("lib/sandbox.c", "call", "nox__api_enter"),
             ("lib/sandbox.c", "call", "nox__api_fail"),
             ("lib/sandbox.c", "call", "nox__api_leave"))
    + _group("sandbox handles start their operations through the core's "
             "private starters (to name nox_sandbox_* in errors and to attach "
             "the observer); remove when issue 14 moves them to lib/fleet on "
             "the public starters",
             ("lib/sandbox.c", "call", "nox__create_start"),
             ("lib/sandbox.c", "call", "nox__simple_start"),
             ("lib/sandbox.c", "call", "nox__exec_start"),
             ("lib/sandbox.c", "call", "nox__exec_shell_start"),
             ("lib/sandbox.c", "call", "nox__upload_start"),
             ("lib/sandbox.c", "call", "nox__download_start"))
    + _group("touch and delete that work while the client waits in its "
             "pre-close phase; remove when issue 14 gives the pre-close hook "
             "that guarantee for public requests",
             ("lib/sandbox.c", "call", "nox__req_start_internal"))
    + _group("retry jitter from the client's private generator; remove when "
             "issue 14 gives lib/fleet its own generator",
             ("lib/sandbox.c", "call", "nox__client_random"))
    + _group("the wait-ready poller drives a core request directly (complete, "
             "message, timer, internal probe); remove when issue 14 moves it "
             "to lib/fleet as one readiness poller on nox_exec()",
             ("lib/wait.c", "call", "nox__req_complete"),
             ("lib/wait.c", "call", "nox__req_set_message"),
             ("lib/wait.c", "call", "nox__req_start_timer"),
             ("lib/wait.c", "call", "nox__req_stop_timer"),
             ("lib/wait.c", "call", "nox__req_start_probe"))
    # -- lib/tar sees requests --
    + _group("the worker pool and bounded pipe (tar/stream.[ch]) deliver "
             "entries and progress to a nox_req_t; remove when issue 14 moves "
             "pool and pipe to lib/worker and the request side to the backends",
             ("lib/tar/stream.h", "include", "lib/internal.h"),
             ("lib/tar/stream.c", "call", "nox__strv_free"))
)


def check(root, allowlist):
    found, errors = scan(root)
    problems = list(errors)
    allowed = set()
    for entry in allowlist:
        key = entry[:3]
        if key in allowed:
            problems.append("ALLOWLIST has %s twice" % (key,))
        allowed.add(key)
        if key not in found:
            problems.append(
                "stale ALLOWLIST entry %s: that violation is gone, delete the "
                "entry (and its line in docs/architecture.md)" % (key,))
    for key in sorted(found):
        if key not in allowed:
            problems.append("layer violation: " + found[key])
    return problems, found


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    if len(argv) == 3 and argv[1] == "--root":
        root = argv[2]
    elif len(argv) != 1:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    problems, found = check(os.path.abspath(root), ALLOWLIST)
    for p in problems:
        print(p)
    if problems:
        print("check_layers: %d problem(s); see docs/architecture.md"
              % len(problems))
        return 1
    print("check_layers: layering holds (%d known violation(s) of issue 14 "
          "allowlisted)" % len(ALLOWLIST))
    return 0


# ---- the checker checks itself on a made-up tree ---------------------------

SELF_TEST_TREE = {
    "include/noxrunner.h": '#include "noxrunner/version.h"\n',
    "include/noxrunner/version.h": "",
    "include/noxrunner/sandbox.h": '#include "../noxrunner.h"\n',
    "lib/list.h": "",
    "lib/internal.h": '#include "noxrunner.h"\n#include "list.h"\n',
    "lib/client.c": ('#include "internal.h"\n'
                     '#include "noxrunner/sandbox.h"\n'
                     "/* nox__fleet_thing() in a comment is no call */\n"
                     "void nox__client_wake(int c) {\n"
                     "  nox__fleet_thing(c);\n  c->registry = 0;\n}\n"),
    "lib/fanout.c": ('#include "noxrunner/sandbox.h"\n'
                     "int nox__fleet_thing(int x) { return x; }\n"),
    "lib/http/http.h": '#include "../internal.h"\n#include "../tar/tar.h"\n',
    "lib/http/engine.c": '#include "http.h"\n#include "local/local.h"\n',
    "lib/local/local.h": '#include "internal.h"\n',
    "lib/tar/tar.h": '#include "noxrunner.h"\n',
    "lib/tar/pack.c": ('#include "tar/tar.h"\n#include "internal.h"\n'
                       "void f(void) { nox__client_wake(1); }\n"),
    "tools/noxrc/noxrc.h": "#include <noxrunner.h>\n#include <stdio.h>\n",
    "tools/noxrc/main.c": ('#include "noxrc.h"\n'
                           '#include "noxrunner/sandbox.h"\n'
                           '#include "../../lib/internal.h"\n'),
}

SELF_TEST_EXPECTED = {
    ("lib/client.c", "include", "include/noxrunner/sandbox.h"),
    ("lib/client.c", "call", "nox__fleet_thing"),
    ("lib/client.c", "state", "->registry"),
    ("lib/http/engine.c", "include", "lib/local/local.h"),
    ("lib/tar/pack.c", "include", "lib/internal.h"),
    ("lib/tar/pack.c", "call", "nox__client_wake"),
    ("tools/noxrc/main.c", "include", "lib/internal.h"),
}


def self_test():
    failures = []
    with tempfile.TemporaryDirectory(prefix="check_layers.") as root:
        for path, text in SELF_TEST_TREE.items():
            full = os.path.join(root, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as fh:
                fh.write(text)
        found, errors = scan(root)
        if errors:
            failures.append("errors on the made-up tree: %s" % errors)
        if set(found) != SELF_TEST_EXPECTED:
            failures.append("found %s, expected %s" % (
                sorted(found), sorted(SELF_TEST_EXPECTED)))
        # Every violation allowlisted: clean.
        everything = [k + ("reason",) for k in SELF_TEST_EXPECTED]
        problems, _ = check(root, everything)
        if problems:
            failures.append("full allowlist still fails: %s" % problems)
        # One violation left out: exactly it is reported.
        problems, _ = check(root, everything[1:])
        if len(problems) != 1 or "layer violation" not in problems[0]:
            failures.append("a missing entry gave %s" % problems)
        # An entry for something that does not happen: stale.
        stale = everything + [("lib/client.c", "include", "lib/x.h", "r")]
        problems, _ = check(root, stale)
        if len(problems) != 1 or "stale" not in problems[0]:
            failures.append("a stale entry gave %s" % problems)
        # An include that names no file is an error, not a pass.
        with open(os.path.join(root, "lib/client.c"), "a") as fh:
            fh.write('#include "nowhere.h"\n')
        _, errors = scan(root)
        if not any("nowhere.h" in e for e in errors):
            failures.append("an unresolvable include went unnoticed")
        # A directory of lib/ that is no layer is an error.
        os.makedirs(os.path.join(root, "lib/misc"))
        with open(os.path.join(root, "lib/misc/x.c"), "w") as fh:
            fh.write("")
        _, errors = scan(root)
        if not any("lib/misc/" in e for e in errors):
            failures.append("a file of no layer went unnoticed")
    for f in failures:
        print("self-test: " + f)
    if failures:
        return 1
    print("check_layers self-test: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
