"""LaTeX write-up of an audited statement: printed formula, derivation, result, verdict.

``statement_tex`` renders one :class:`~sigprop.audit.run.Finding` as a section
that ``sigprop derive`` writes beside the claims' sections (``audit-<id>.tex``);
like them it holds no timings, so the files regenerate byte for byte.
"""

from __future__ import annotations

import sympy as sp

from sigprop.audit.run import Finding
from sigprop.claim import Step
from sigprop.latex import HEADER, escape, file_stem, steps_tex

PREFIX = "audit-"


def statement_stem(statement_id: str) -> str:
    return PREFIX + file_stem(statement_id)


def statement_tex(finding: Finding) -> str:
    """One statement's audit as a LaTeX fragment (a ``\\section``)."""
    st, sym = finding.statement, finding.symbolic
    where = ", ".join(x for x in (st.number, f"Sec. {st.section}", st.label, st.equation) if x)
    parts = [
        HEADER.rstrip("\n"),
        rf"\section{{{escape(st.title)}}}\label{{audit:{file_stem(st.id)}}}",
        rf"Statement \texttt{{{escape(st.id)}}}: {escape(where)}.",
        r"\paragraph{As printed.}" "\n" + rf"\texttt{{{escape(st.printed or st.formula_text)}}}",
        r"\paragraph{Transcribed.}" "\n" + rf"\texttt{{{escape(st.formula_text)}}} "
        rf"(relation {escape(st.relation)}, quantity \texttt{{{escape(st.quantity.name)}}}, "
        rf"input {escape(st.input)}, {escape(st.model.init)} initialization"
        + (", uniform attention" if st.model.attention == "uniform" else "") + ").",
    ]
    if st.notes:
        parts.append(r"\paragraph{Notes.}" "\n" + escape(st.notes))
    derivation = st.derivation
    if derivation is not None:
        parts += [r"\subsection*{Derivation}",
                  steps_tex(Step(title, body) for title, body in derivation.steps)
                  or "No steps recorded."]
    if sym is not None and sym.exact is not None:
        parts += [r"\subsection*{Result}",
                  rf"\[ \text{{derived}} = {sp.latex(sym.exact)},\qquad "
                  rf"\text{{printed}} = {sp.latex(sym.stated)} \]"]
        if sym.ratio is not None:
            parts.append(rf"\[ \text{{derived}}/\text{{printed}} = {sp.latex(sym.ratio)} \]")
    parts += [r"\subsection*{Verdict}",
              rf"\textbf{{{escape(finding.verdict)}}}: {escape(finding.summary)}"]
    if finding.evidence:
        parts.append("\n".join([r"\begin{itemize}",
                                *(rf"\item {escape(e)}" for e in finding.evidence),
                                r"\end{itemize}"]))
    return "\n\n".join(parts) + "\n"
