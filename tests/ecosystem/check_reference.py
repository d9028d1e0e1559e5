#!/usr/bin/env python3
"""check_reference.py DOXYGEN DOXYFILE WORKDIR HEADER...

Every function a public header declares with NOX_EXTERN must be in the
generated API reference with a description: runs Doxygen with DOXYFILE (the
docs target's configuration) switched to XML output in WORKDIR, and looks
for each function's memberdef with a non-empty brief or detailed
description. A header without @file puts none of its functions in the
reference, so they are reported too. Fails listing every missing one.
"""
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET


def declared(headers):
    """{function name: header} of the NOX_EXTERN declarations."""
    names = {}
    for path in headers:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        text = re.sub(r"//[^\n]*", " ", text)
        # Preprocessor lines (NOX_EXTERN's own #define among them), with
        # their continuations.
        text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
        text = re.sub(r"\bNOX_DEPRECATED\s*\([^)]*\)", " ", text)
        for decl in re.findall(r"\bNOX_EXTERN\b([^;{]*)[;{]", text):
            m = re.search(r"\b(nox_\w+)\s*\(", decl)
            if m is None:
                sys.exit(f"check_reference: cannot parse NOX_EXTERN{decl}")
            names[m.group(1)] = os.path.basename(path)
    return names


def text_of(elem):
    return "" if elem is None else "".join(elem.itertext()).strip()


def documented(xmldir):
    """{function name: described?} over every compound of the reference."""
    found = {}
    index = ET.parse(os.path.join(xmldir, "index.xml")).getroot()
    for compound in index.findall("compound"):
        if compound.get("kind") not in ("file", "group"):
            continue
        path = os.path.join(xmldir, compound.get("refid") + ".xml")
        root = ET.parse(path).getroot()
        # Doxygen writes XML for every input file, but an undocumented file
        # (no @file comment) gets no page in the reference, nor do its
        # functions.
        cdef = root.find("compounddef")
        if compound.get("kind") == "file" and not (
                text_of(cdef.find("briefdescription")) or
                text_of(cdef.find("detaileddescription"))):
            continue
        for m in root.iter("memberdef"):
            if m.get("kind") != "function":
                continue
            name = text_of(m.find("name"))
            desc = text_of(m.find("briefdescription")) or \
                text_of(m.find("detaileddescription"))
            found[name] = found.get(name, False) or bool(desc)
    return found


def main():
    doxygen, doxyfile, workdir, headers = (sys.argv[1], sys.argv[2],
                                           sys.argv[3], sys.argv[4:])
    if not headers:
        sys.exit("check_reference: no headers")
    public = declared(headers)
    if not public:
        sys.exit("check_reference: no NOX_EXTERN function found")

    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    with open(doxyfile, encoding="utf-8") as f:
        config = f.read()
    # Later settings win. Warnings are docs_doxygen's business; here only
    # the XML counts.
    config += f"""
OUTPUT_DIRECTORY = {workdir}
GENERATE_HTML    = NO
GENERATE_XML     = YES
XML_OUTPUT       = xml
WARN_AS_ERROR    = NO
QUIET            = YES
"""
    conf = os.path.join(workdir, "Doxyfile.xml")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(config)
    subprocess.run([doxygen, conf], check=True, cwd=workdir,
                   stderr=subprocess.DEVNULL)

    found = documented(os.path.join(workdir, "xml"))
    missing = [f"{public[n]}: {n}: not in the reference (no @file?)" for n in
               sorted(public) if n not in found]
    missing += [f"{public[n]}: {n}: in the reference without a description"
                for n in sorted(public) if n in found and not found[n]]
    for line in missing:
        print(line)
    if missing:
        print(f"check_reference: {len(missing)} of {len(public)} exported "
              "functions undocumented")
        return 1
    print(f"check_reference: all {len(public)} exported functions of "
          f"{len(headers)} headers are in the reference with a description")
    return 0


if __name__ == "__main__":
    sys.exit(main())
