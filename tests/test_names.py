"""Display names (learndyn.names): one registry of what a reader sees for a pipeline id."""

import yaml
from test_plotting import ROOT

from learndyn.names import NAMES, display, display_text, pipeline_ids


def test_every_model_and_task_of_the_profiles_has_a_name_without_an_id():
    for profile in ("config.yaml", "quick.yaml", "paper.yaml"):
        config = yaml.safe_load((ROOT / "config" / profile).read_text())
        for name in [*config["train"]["models"], *config["data"]["tasks"]]:
            assert pipeline_ids(display(name), [name]) == [], (profile, name)


def test_display_falls_back_to_spaces():
    assert display("struct_alpha0") == NAMES["struct_alpha0"]
    assert display("my_new_model") == "my new model"


def test_display_text_leaves_math_and_commands():
    assert display_text("mlp vs struct_alpha0") == f"MLP vs {NAMES['struct_alpha0']}"
    assert display_text("$h_{mlp}$ and \\texttt{x}") == "$h_{mlp}$ and \\texttt{x}"
    assert display_text("fashion\\_mnist\\_2k") == NAMES["fashion_mnist_2k"]
    assert display_text("mlp/L8_W64") == "MLP/L8_W64"


def test_pipeline_ids():
    assert pipeline_ids("struct_alpha0 and $x_1$", []) == ["struct_alpha0"]
    assert pipeline_ids("SN-MLP beats snmlp", ["snmlp"]) == ["snmlp"]
    assert pipeline_ids("structured and spirals", ["structured", "spirals"]) == []


def test_code_and_file_names_are_not_prose():
    assert pipeline_ids(r"\texttt{closed\_flow\_digits01.nc} on digits01", ["digits01"]) == ["digits01"]
    assert pipeline_ids(r"\texttt{closed\_flow\_digits01.nc}", ["digits01"]) == []
