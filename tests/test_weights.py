"""The weight-file format and the state_dict bridge: exact keys, no pickle, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from numpy_lenet.architecture import PARAM_SHAPES
from numpy_lenet.params import WeightError, load_npz, save_npz, validate_params
from torch_lenet.model import LeNet5
from torch_lenet.weights import load_params, model_from_params, state_dict_to_params

from .lenet_factories import random_params


def test_npz_round_trip_keeps_keys_shapes_and_values(tmp_path):
    params = random_params(0, np.float32)
    path = save_npz(tmp_path / "w.npz", params)
    loaded = load_npz(path)
    assert list(loaded) == list(PARAM_SHAPES)
    for key in PARAM_SHAPES:
        np.testing.assert_array_equal(loaded[key], params[key])
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"], "temporary file left behind"


def test_state_dict_bridge_round_trips_exactly():
    torch.manual_seed(0)
    model = LeNet5()
    params = state_dict_to_params(model.state_dict())
    assert set(params) == set(PARAM_SHAPES)
    assert all(v.dtype == np.float32 for v in params.values())
    back = model_from_params(params).state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(back[key], value)


def test_pt_files_load_without_unpickling_code(tmp_path):
    torch.manual_seed(1)
    model = LeNet5()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    params = load_params(tmp_path / "model.pt")
    np.testing.assert_array_equal(params["fc3.bias"], model.fc3.bias.detach().numpy())

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(WeightError, match=r"evil\.pt"):
        load_params(tmp_path / "evil.pt")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("conv2.bias"), r"missing key\(s\) conv2\.bias"),
        (lambda p: p.update(extra=np.zeros(3)), r"unexpected key\(s\) extra"),
        (lambda p: p.update({"fc1.weight": np.zeros((120, 401))}), r"fc1\.weight has shape"),
        (lambda p: p.update({"fc2.bias": np.zeros(84, np.int64)}), r"fc2\.bias has dtype int64"),
        (lambda p: p["conv1.weight"].__setitem__((0, 0, 0, 0), np.nan), r"conv1\.weight has 1 non"),
        (lambda p: p["fc3.bias"].__setitem__(0, np.inf), r"fc3\.bias has 1 non-finite"),
    ],
)
def test_bad_parameters_name_the_offending_key(change, message):
    params = random_params(0)
    change(params)
    with pytest.raises(WeightError, match=message):
        validate_params(params)


def test_corrupt_truncated_and_missing_files_give_clear_errors(tmp_path):
    path = save_npz(tmp_path / "w.npz", random_params(0, np.float32))
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    for name in ("cut.npz", "junk.npz"):
        with pytest.raises(WeightError, match=name):
            load_npz(tmp_path / name)
    with pytest.raises(FileNotFoundError, match=r"nope\.npz"):
        load_npz(tmp_path / "nope.npz")
    (tmp_path / "cut.pt").write_bytes(b"\x80\x02garbage")
    with pytest.raises(WeightError, match=r"cut\.pt"):
        load_params(tmp_path / "cut.pt")


def test_object_arrays_are_refused_not_unpickled(tmp_path):
    params = dict(random_params(0, np.float32))
    params["fc3.bias"] = np.array([object()] * 10, dtype=object)
    np.savez(tmp_path / "obj.npz", **params)
    with pytest.raises(WeightError, match=r"obj\.npz"):
        load_npz(tmp_path / "obj.npz")


def test_invalid_params_are_not_written(tmp_path):
    params = random_params(0)
    params["fc1.bias"][3] = np.nan
    with pytest.raises(WeightError):
        save_npz(tmp_path / "w.npz", params)
    assert list(tmp_path.iterdir()) == []
