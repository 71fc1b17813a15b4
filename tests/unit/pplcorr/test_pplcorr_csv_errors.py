"""pplcorr released-CSV errors name the file, the model and the cell (issue 19, bad input)."""

from __future__ import annotations

import pytest

from repro.pplcorr.data import DataError, load_bpb, load_errors


def test_malformed_released_csv_is_named(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text("id,m1,m2\nt1,1.0,abc\nt2,1,2\n")
    with pytest.raises(DataError, match=r"b.csv: non-numeric value 'abc' for model 'm2' at 't1'"):
        load_bpb(p)
    p.write_text("")
    with pytest.raises(DataError, match=r"b.csv: cannot read CSV"):
        load_bpb(p)
    p.write_text("id,m1,m2\nt1,1.0,nan\nt2,1,2\n")
    with pytest.raises(DataError, match=r"b.csv: .*m2"):
        load_bpb(p)
    p.write_text("benchmark,m1\nsciq,x\n")
    with pytest.raises(DataError, match=r"b.csv: non-numeric value 'x' for model 'm1' at 'sciq'"):
        load_errors(p)
