"""Claims: the paper's claims checked on this suite, pass/fail/inconclusive/waiting, with their numbers."""

import streamlit as st

from dashboard import charts, client, sidebar, ui

BADGES = {
    "pass": ":green-badge[:material/check: pass]",
    "fail": ":red-badge[:material/close: fail]",
    "inconclusive": ":violet-badge[:material/help: inconclusive]",
    "waiting": ":orange-badge[:material/hourglass_empty: waiting]",
    "n/a": ":gray-badge[n/a]",
}

st.title("Claims")
st.markdown(
    "The claims of Olsson et al. 2022 that this suite can test, as the suite's claims report checks them: each "
    "with pass, fail, inconclusive (its interval straddles the threshold), waiting (a run it needs is not trained "
    "and analysed yet) or n/a (the suite lacks the runs it needs), and the numbers behind the verdict, with 95% "
    "bootstrap intervals. A failing claim is reported as failing, with by how much."
)
sel = sidebar.selection()
report = ui.unless_missing(client.report, sel.suite)
ui.need(report is not None, sel.pending())

n_na = sum(c["status"] == "n/a" for c in report["claims"])
n_inconclusive = sum(c["status"] == "inconclusive" for c in report["claims"])
a, b, i, c, d = st.columns(5)
a.metric("passed", report["passed"])
b.metric("failed", report["failed"])
i.metric("inconclusive", n_inconclusive)
c.metric("waiting", report["waiting"])
d.metric("not testable here", n_na)
st.caption(f"Suite `{report['suite']}`, report generated {report['generated']}.")

for claim in report["claims"]:
    with st.container(border=True):
        st.markdown(f"**({claim['id']}) {BADGES.get(claim['status'], claim['status'])}** — {claim['claim']}")
        st.markdown(claim["details"] or "—")
        if claim.get("numbers"):
            with st.expander("numbers"):
                st.json(claim["numbers"])

if report["runs"]:
    with ui.service_errors():
        threshold = client.registry()["induction_threshold"]
    st.subheader("Peak prefix-matching score per run")
    st.caption(
        "The highest prefix-matching score of any head at any checkpoint; above the dashed line the run has an induction head."
    )
    st.plotly_chart(charts.peak_prefix_matching(report["runs"], threshold), key="claims_peaks")
if report.get("markdown"):
    with st.expander("The report as a Markdown file"):
        st.markdown(report["markdown"])
