#!/usr/bin/env python3
"""make_api.py: the API reference, docs/api/README.md, from core/tapegrad.h.

    python3 docs/make_api.py              write docs/api/README.md
    python3 docs/make_api.py --check      exit 1 if a public declaration has no doc comment
    python3 docs/make_api.py --stale      exit 1 if docs/api/README.md is not up to date

A declaration is documented when a comment ends on the line just before it,
or a comment follows it on its last line (`tg_tensor *tg_add(...); /* a + b */`),
or it continues a block of declarations (no blank line between them) whose
first one has a comment just before it: that comment documents the block.

Public declarations: every function prototype, typedef, struct, enum and
#define at file scope, except the include guard and macros the header
#undefs again. The status codes of the TG_STATUS_MAP X-macro are listed one
by one. Standard library only; the parser knows just enough C for this header.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HEADER = os.path.join(ROOT, "core", "tapegrad.h")
OUT = os.path.join(HERE, "api", "README.md")


class Item:
    """A comment, a statement (declaration) or a #define, with its lines."""

    def __init__(self, kind, text, first, last):
        self.kind = kind          # "comment", "stmt", "define", "pp"
        self.text = text
        self.first = first        # 1-based line numbers
        self.last = last
        self.doc = None           # the documenting comment (Item) for stmt/define
        self.group_head = None    # first declaration of the block it belongs to
        self.trailing = None      # comment on its last line
        self.section = ""
        self.names = []
        self.consts = []              # constants of a typedef'd enum


def scan(src):
    """Split the header into comments, preprocessor lines and file-scope
    statements (ending at ';' outside braces). Comments inside a statement
    stay in its text; preprocessor lines inside one are dropped."""
    items = []
    i, n, line = 0, len(src), 1
    stmt, stmt_first, depth = [], None, 0
    at_line_start = True
    while i < n:
        c = src[i]
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            text = src[i:j]
            nl = text.count("\n")
            if stmt_first is not None:
                stmt.append(text)
            else:
                items.append(Item("comment", text, line, line + nl))
            line += nl
            i = j
            at_line_start = False
            continue
        if c == "#" and at_line_start:
            j = i
            while True:  # a directive with backslash continuations
                k = src.find("\n", j)
                k = n if k < 0 else k
                if k > 0 and src[k - 1] == "\\":
                    j = k + 1
                    continue
                break
            text = src[i:k]
            nl = text.count("\n")
            if stmt_first is None:
                kind = "define" if re.match(r"#\s*define\b", text) else "pp"
                items.append(Item(kind, text, line, line + nl))
            line += nl
            i = k
            continue
        if c == "\n":
            line += 1
            at_line_start = True
            if stmt_first is not None:
                stmt.append(c)
            i += 1
            continue
        if c in " \t":
            if stmt_first is not None:
                stmt.append(c)
            i += 1
            continue
        at_line_start = False
        if c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            tok = src[i:j + 1]
            i = j + 1
        else:
            tok = c
            i += 1
        if stmt_first is None:
            stmt_first = line
        stmt.append(tok)
        if tok == "{":
            depth += 1
            text = "".join(stmt).strip()
            if depth == 1 and re.fullmatch(r'extern\s+"C"\s*\{', text):
                stmt, stmt_first, depth = [], None, 0  # C++ linkage block: not a scope
        elif tok == "}":
            depth -= 1
            if depth < 0:  # the closing brace of extern "C"
                stmt, stmt_first, depth = [], None, 0
        elif tok == ";" and depth == 0:
            items.append(Item("stmt", "".join(stmt).strip(), stmt_first, line))
            stmt, stmt_first = [], None
    return items


def strip_comments(text):
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def decl_names(it):
    """The public names a statement or #define declares."""
    if it.kind == "define":
        m = re.match(r"#\s*define\s+(\w+)", it.text)
        return [m.group(1)] if m else []
    code = " ".join(strip_comments(it.text).split())
    code = re.sub(r"__attribute__\s*\(\(.*?\)\)", "", code)
    if code.startswith("typedef"):
        while re.search(r"\{[^{}]*\}", code):  # drop struct/enum bodies
            code = re.sub(r"\{[^{}]*\}", " ", code)
        m = re.search(r"\(\s*\*\s*(\w+)\s*\)\s*\(", code)  # function pointer
        if m:
            return [m.group(1)]
        m = re.search(r"(\w+)\s*(\[[^\]]*\])?\s*;$", code)
        return [m.group(1)] if m else []
    m = re.match(r"(struct|enum)\s+(\w+)\s*\{", code)
    if m:
        return ["%s %s" % (m.group(1), m.group(2))]
    m = re.match(r"enum\s*\{(.*)\}\s*;$", code)
    if m:
        return [c for c in enum_constants(m.group(1)) if not c.endswith("_")]
    m = re.search(r"(\w+)\s*\(", code)  # a function prototype
    return [m.group(1)] if m else []


def enum_constants(body):
    body = strip_comments(body)
    out = []
    for part in body.split(","):
        m = re.match(r"\s*([A-Za-z_]\w*)\s*(=|$)", part)
        if m:
            out.append(m.group(1))
    return out


def comment_text(c):
    """The words of a comment without the /** * */ decoration."""
    t = c.text
    t = re.sub(r"^/\*+", "", t)
    t = re.sub(r"\*+/$", "", t)
    lines = [re.sub(r"^\s*\*? ?", "", l).rstrip() for l in t.split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    # the lines after the first share an indentation (" *  text"): drop it
    ind = min((len(l) - len(l.lstrip()) for l in lines[1:] if l.strip()), default=0)
    return "\n".join(lines[:1] + [l[ind:] for l in lines[1:]])


def is_box(c):
    """A section banner: a rule of dashes."""
    return bool(re.match(r"/\*\s*-{8,}", c.text))


RULE = re.compile(r"/\*\s*-{8,}\s*\*/$")


def is_rule(c):
    return c.kind == "comment" and bool(RULE.match(c.text.strip()))


def analyse(src):
    """Declarations in order, each with its section, doc comment, trailing
    comment and block head; and the sections' banner texts."""
    items = scan(src)
    undef = set(re.findall(r"#\s*undef\s+(\w+)", src))
    guard = re.search(r"#\s*ifndef\s+(\w+)", src)
    guard = guard.group(1) if guard else None
    decls, banners = [], {}
    section, in_banner, banner_text = "", False, []
    for it in items:
        if is_rule(it):
            if in_banner:  # closing rule: the banner is complete
                first = banner_text[0].strip() if banner_text else ""
                section = re.split(r"\. |: | \(", first, 1)[0].strip()
                rest = banner_text[1:] if first == section else banner_text
                ind = min((len(l) - len(l.lstrip()) for l in rest if l.strip()), default=0)
                banners[section] = "\n".join(l[ind:] for l in rest).strip("\n")
            in_banner, banner_text = not in_banner, []
            continue
        if in_banner:
            if it.kind == "comment":
                body = it.text[2:-2]
                banner_text += [re.sub(r"^(\s*\*)? ?", "", l, count=1).rstrip() for l in body.split("\n")]
            continue
        it.section = section
        if it.kind not in ("stmt", "define"):
            continue
        names = decl_names(it)
        if not names or (it.kind == "define" and (names[0] in undef or names[0] == guard)):
            continue
        it.names = names
        m = re.match(r"typedef\s+enum\s*\w*\s*\{(.*)\}", " ".join(strip_comments(it.text).split()))
        it.consts = enum_constants(m.group(1)) if m else []
        decls.append(it)
    # "#define tg_add(...) TG_AT(tg_add(__VA_ARGS__))": a call-site wrapper of
    # a declared function is documented by the function itself
    funcs = {n for d in decls if d.kind == "stmt" for n in d.names}
    for d in decls:
        if d.kind == "define" and d.names[0] in funcs:
            d.wraps = True
    decls = [d for d in decls if not getattr(d, "wraps", False)]
    wrapped = {d.names[0] for d in items if getattr(d, "wraps", False)}
    for d in decls:
        d.wrapped = d.kind == "stmt" and d.names[0] in wrapped
    lines = src.split("\n")
    comments = [c for c in items if c.kind == "comment" and not is_rule(c)]
    for d in decls:
        m = re.search(r"/\*.*?\*/", d.text, re.S) if d.kind == "define" else None
        if m:  # "#define X 8 /* ... */": the comment is part of the directive
            d.trailing = Item("comment", m.group(0), d.last, d.last)
        for c in comments:
            if c.first == d.last and c.first > d.first - 1 and not lines[d.last - 1].lstrip().startswith("/*"):
                d.trailing = c  # after the code on its last line
            if c.last == d.first - 1 and not code_on_line(lines[c.first - 1], c):
                d.doc = c       # ends just before, and starts a line of its own
            if c.first == d.first and lines[d.first - 1].lstrip().startswith("/*") and c.last == d.first:
                d.doc = c       # "/** x */ int f();"
    # a declaration right after a documented one (no blank line) joins its block
    for k, d in enumerate(decls):
        if d.doc:
            d.group_head = d
        elif k > 0 and not d.trailing:
            p = decls[k - 1]
            if p.last == d.first - 1 and p.group_head is not None and not p.trailing:
                d.group_head = p.group_head
    return decls, banners


def code_on_line(line, c):
    """Does code precede comment c on its first line?"""
    return not line.lstrip().startswith("/*")


def status_codes(src):
    m = re.search(r"#\s*define\s+TG_STATUS_MAP\(XX\)(.*?)\n\s*\n", src, re.S)
    if not m:
        return []
    return re.findall(r'XX\((\w+),\s*(-?\d+),\s*"([^"]*)"\)', m.group(1))


def undocumented(decls):
    return [d for d in decls if not (d.doc or d.trailing or d.group_head)]


def anchor(name):
    return re.sub(r"[^a-z0-9_]+", "-", name.lower()).strip("-")


def clean_decl(text):
    """A declaration as shown in the reference: the header's own text with
    the GCC attribute noise removed."""
    t = re.sub(r"\s*__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)", "", text)
    t = re.sub(r"\)\s*;$", ");", t.rstrip())
    return t


def render(src, decls, banners):
    out = []
    out.append("# tapegrad API reference\n")
    out.append("Generated by `python3 docs/make_api.py` from the comments in "
               "[`core/tapegrad.h`](../../core/tapegrad.h); do not edit by hand. "
               "Version %s.\n" % version_of(src))
    head = re.match(r"/\*(.*?)\*/", src, re.S)
    if head:
        text = comment_text(Item("comment", head.group(0), 1, 1))
        text = re.sub(r"^tapegrad\.h: (\w)", lambda m: m.group(1).upper(), text)
        out.append(text + "\n")
    # group declarations into entries: a block shares one entry
    entries = []
    for d in decls:
        if d.group_head is not None and d.group_head is not d and entries and d.group_head in entries[-1]:
            entries[-1].append(d)
        else:
            entries.append([d])
    sections = []
    for e in entries:
        if not sections or sections[-1][0] != e[0].section:
            sections.append((e[0].section, []))
        sections[-1][1].append(e)
    out.append("## Contents\n")
    for title, es in sections:
        names = ", ".join("[`%s`](#%s)" % (n, anchor(n)) for e in es for d in e for n in d.names)
        out.append("- **[%s](#%s)**: %s" % (title or "Preamble", "sec-" + anchor(title or "preamble"), names))
    out.append("")
    codes = status_codes(src)
    for title, es in sections:
        out.append('<a id="%s"></a>\n\n## %s\n' % ("sec-" + anchor(title or "preamble"), title or "Preamble"))
        intro = banners.get(title, "")
        if "\n" in intro:
            out.append("```text\n%s\n```\n" % intro)
        elif intro and intro != title:
            out.append(intro + "\n")
        for e in es:
            names = [n for d in e for n in d.names]
            consts = [c for d in e for c in d.consts]
            for n in names + consts:
                out.append('<a id="%s"></a>' % anchor(n))
            out.append("\n### " + ", ".join("`%s`" % n for n in names) + "\n")
            out.append("```c")
            for d in e:
                line = clean_decl(d.text)
                if d.trailing and d.trailing.text not in line:
                    line += "  " + d.trailing.text
                out.append(line)
            out.append("```\n")
            doc = e[0].doc or e[0].group_head and e[0].group_head.doc
            if doc:
                out.append(comment_text(doc) + "\n")
            if consts:
                out.append("Constants: " + ", ".join("`%s`" % c for c in consts) + ".\n")
            macros = [n for d in e if getattr(d, "wrapped", False) for n in d.names]
            if macros:
                out.append("Also a same-named macro that records the call site (see "
                           "[Call sites](#sec-call-sites)): " + ", ".join("`%s`" % n for n in macros) + ".\n")
            if "TG_STATUS_MAP" in names and codes:
                out.append("| code | value | meaning |\n|---|---|---|")
                for name, value, desc in codes:
                    out.append("| `TG_%s` | %s | %s |" % (name, value, desc))
                out.append("")
    return "\n".join(out).rstrip() + "\n"


def version_of(src):
    v = [re.search(r"#define TG_VERSION_%s (\d+)" % p, src) for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(m.group(1) if m else "?" for m in v)


def main(argv):
    header = HEADER
    args = [a for a in argv[1:] if not a.startswith("--")]
    if args:
        header = args[0]
    src = open(header, encoding="utf-8").read()
    decls, banners = analyse(src)
    if "--check" in argv:
        bad = undocumented(decls)
        for d in bad:
            print("%s:%d: %s has no doc comment (a comment on the line before it, or after it "
                  "on its line)" % (os.path.relpath(header), d.first, ", ".join(d.names)))
        n = sum(len(d.names) for d in decls)
        print("%d public declarations (%d names), %d undocumented" % (len(decls), n, len(bad)))
        return 1 if bad else 0
    text = render(src, decls, banners)
    if "--stale" in argv:
        try:
            old = open(OUT, encoding="utf-8").read()
        except OSError:
            old = ""
        if old != text:
            print("docs/api/README.md is out of date: run python3 docs/make_api.py")
            return 1
        return 0
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote %s (%d declarations)" % (os.path.relpath(OUT), len(decls)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
