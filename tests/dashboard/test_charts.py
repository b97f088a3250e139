"""The charts draw the data's text as text, not as plotly's label markup."""

from __future__ import annotations

import pandas as pd

from pipelines import charts


def test_labels_from_the_data_are_escaped_and_numbers_left_alone():
    # A new-user review saw a team named <b>x</b> drawn bold, and an <a href> as a link.
    table = pd.DataFrame(
        {
            "value": ["<b>x</b>", "R&D", "payments"],
            "direct_cost": [10.0, 20.0, 30.0],
            "shared_cost": [1.0, 2.0, 3.0],
        }
    )

    figure = charts.showback_bars(table, "USD", "team", "2026-10")

    direct = figure.data[0]
    assert list(direct.y) == ["payments", "R&amp;D", "&lt;b&gt;x&lt;/b&gt;"]  # drawn bottom-up
    assert list(direct.x) == [30.0, 20.0, 10.0]
    assert [trace.name for trace in figure.data] == ["direct", "shared (allocated)"]


def test_legend_names_from_the_data_are_escaped():
    frame = pd.DataFrame(
        {
            "billing_period": ["2026-09", "2026-10"],
            "cost": [1.0, 2.0],
            "team": ['<a href="javascript:alert(1)">t</a>'] * 2,
        }
    )

    figure = charts.lines_by(frame, "billing_period", "cost", "team", "Cost", {})

    assert figure.data[0].name == '&lt;a href="javascript:alert(1)"&gt;t&lt;/a&gt;'
    assert list(figure.data[0].x) == ["2026-09", "2026-10"]
