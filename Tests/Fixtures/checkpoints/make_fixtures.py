"""Writes the real-library checkpoint samples in this directory (see README.md).

Needs torch, h5py, xgboost, joblib and numpy; CI does not run this, it only reads the files it wrote.
Run from anywhere: python3 make_fixtures.py
"""

import os
import sys

import h5py
import joblib
import numpy as np
import torch
import xgboost

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


def tiny_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


def lightning_like(model):
    """The keys a Lightning .ckpt has, after one Adam step (no Lightning needed)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    return {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": {"model." + k: v for k, v in model.state_dict().items()},
        "loops": {"fit_loop": {"epoch_progress": {"current": {"completed": 3}}}},
        "callbacks": {},
        "optimizer_states": [optimizer.state_dict()],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": {"lr": 1e-3, "hidden": 3},
    }


def mixed_dtypes():
    """Several storage types and a view sharing its base's storage. (A bare UntypedStorage saves but
    torch 2.13 cannot load it back from the legacy format, so it is left out.)"""
    base = torch.arange(10, dtype=torch.int64)
    return {
        "half": torch.ones(3, dtype=torch.float16),
        "double": torch.linspace(0, 1, 5, dtype=torch.float64),
        "flags": torch.tensor([True, False, True]),
        "base": base,
        "view": base[2:5],
        "complex": torch.ones(2, dtype=torch.complex64),
        "note": "not a tensor",
    }


def write_torch():
    model = tiny_model()
    torch.save(model.state_dict(), path("state_dict.pt"))
    torch.save(model.state_dict(), path("state_dict_legacy.pt"), _use_new_zipfile_serialization=False)
    torch.save(model.state_dict(), path("legacy_protocol1.pt"), _use_new_zipfile_serialization=False,
               pickle_protocol=1)
    torch.save(mixed_dtypes(), path("mixed_legacy.pth"), _use_new_zipfile_serialization=False, pickle_protocol=4)
    checkpoint = lightning_like(model)
    torch.save(checkpoint, path("lightning_like.ckpt"))
    torch.save(checkpoint, path("lightning_like_legacy.ckpt"), _use_new_zipfile_serialization=False)
    torch.save(model.state_dict(), path("pytorch_model.bin"))


def write_hdf5():
    # Keras 2's layout: model_weights/<layer>/<layer>/kernel:0, attributes on the root.
    with h5py.File(path("model.h5"), "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.15.0"
        layer = f.create_group("model_weights/dense/dense")
        layer.create_dataset("kernel:0", data=np.arange(12, dtype="f4").reshape(4, 3))
        layer.create_dataset("bias:0", data=np.zeros(3, dtype="f4"))
    with h5py.File(path("latest.hdf5"), "w", libver="latest", userblock_size=512) as f:
        f.create_dataset("weights", data=np.arange(64, dtype="f8"), compression="gzip")
    # Superblock version 2 (the 1.8 file format). (Version 1 needs H5Pset_istore_k, which h5py does not expose.)
    with h5py.File(path("superblock_v2.h5"), "w", libver=("v108", "v108")) as f:
        f.create_dataset("weights", data=np.arange(8, dtype="f4"))
    # A writer that dies without closing the file: HDF5 leaves the "open for writing" flag set.
    pid = os.fork()
    if pid == 0:
        f = h5py.File(path("killed_writer.h5"), "w")
        f.create_dataset("weights", data=np.arange(256, dtype="f4"))
        f.flush()
        f.create_dataset("more", data=np.arange(256, dtype="f4"))
        os._exit(0)
    os.waitpid(pid, 0)


def write_xgboost():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 4))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    booster = xgboost.train({"max_depth": 2, "objective": "binary:logistic", "seed": 0},
                            xgboost.DMatrix(features, label=labels), num_boost_round=3)
    booster.save_model(path("model.ubj"))


def write_joblib():
    joblib.dump({"weights": np.arange(16, dtype="f8"), "classes": [0, 1]}, path("joblib_numpy.pkl"))


if __name__ == "__main__":
    write_torch()
    write_hdf5()
    write_xgboost()
    write_joblib()
    print("torch", torch.__version__, "h5py", h5py.__version__, "HDF5", h5py.version.hdf5_version,
          "xgboost", xgboost.__version__, "joblib", joblib.__version__, "numpy", np.__version__,
          "python", sys.version.split()[0])
