"""Figures carry provenance in their metadata."""

import matplotlib.pyplot as plt

from learndyn.plotting import save_figure
from learndyn.provenance import config_hash


def test_figure_metadata_has_commit_and_config_hash(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    save_figure(fig, tmp_path / "f.pdf", tmp_path / "f.png", config={"a": 1})
    pdf = (tmp_path / "f.pdf").read_bytes()
    assert b"git_commit=" in pdf and config_hash({"a": 1}).encode() in pdf
    png = (tmp_path / "f.png").read_bytes()
    assert b"git_commit=" in png
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png"]
