"""A tampered model file is refused before use, naming the file and the field (issue 14 §3): through the
loader every command uses, and end to end through `mirv cohort --model`."""

from __future__ import annotations

import json
import math

import pytest

from MIRVLib.cli import main
from MIRVLib.model_schema import model_problems
from MIRVLib.reduction import FeatureReduction, ModelError
from MIRVLib.resources import model_path


@pytest.fixture(scope="module")
def shipped() -> dict:
    return json.loads(model_path("SARC021-lung-paper").read_text(encoding="utf-8"))


def test_shipped_models_are_valid(shipped):
    assert model_problems(shipped) == []
    assert model_problems(json.loads(model_path("SARC021-lung-reference").read_text(encoding="utf-8"))) == []


def _tampered(shipped: dict, change) -> dict:
    payload = json.loads(json.dumps(shipped))
    change(payload)
    return payload


def _first_feature(payload: dict) -> str:
    return payload["features"][0]["name"]


@pytest.mark.parametrize(("change", "expected"), [
    (lambda p: p.update(features=[]), "field 'features' is empty"),
    (lambda p: p["features"][0].update(mean=math.nan),
     "field 'features[0] ({name}).mean' must be a finite number, got nan"),
    (lambda p: p["features"][0].update(std=-2.0),
     "field 'features[0] ({name}).std' must be a finite number >= 0, got -2.0"),
    (lambda p: p["features"][1].update(std="1.5"),
     "field 'features[1] ({name1}).std' must be a finite number >= 0, got '1.5'"),
    (lambda p: p["features"].append(dict(p["features"][0])), "feature '{name}' is listed twice"),
    (lambda p: p.pop("preset"), "field 'preset' is missing"),
    (lambda p: p.update(referenceCohort={"MIRVMaxDistance": [1.0, "x"]}),
     "'referenceCohort.MIRVMaxDistance' must be a list"),
])
def test_tampered_model_is_refused_naming_file_and_field(shipped, tmp_path, change, expected):
    path = tmp_path / "model.json"
    payload = _tampered(shipped, change)
    path.write_text(json.dumps(payload), encoding="utf-8")  # json writes NaN as the NaN literal Python reads back
    message = expected.format(name=shipped["features"][0]["name"], name1=shipped["features"][1]["name"])
    with pytest.raises(ModelError) as raised:
        FeatureReduction.load(path)
    assert str(raised.value).startswith(f"{path}: not a usable MIRV model: ")
    assert message in str(raised.value)


def test_json_list_is_refused(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")
    with pytest.raises(ModelError, match="the file holds a JSON list, not an object"):
        FeatureReduction.load(path)


def test_cohort_with_a_tampered_model_exits_2_and_writes_nothing(shipped, tmp_path, capsys):
    model = tmp_path / "model.json"
    model.write_text(json.dumps(_tampered(shipped, lambda p: p["features"][0].update(mean=math.nan))), encoding="utf-8")
    features = tmp_path / "lesions.csv"
    features.write_text("PatientID,LesionID,original_shape_VoxelVolume\nP1,L1,10\nP1,L2,20\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["cohort", "--features", str(features), "--model", str(model), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"mirv cohort: error: {model}: not a usable MIRV model: field 'features[0] (" in err
    assert list(out.iterdir()) == []
