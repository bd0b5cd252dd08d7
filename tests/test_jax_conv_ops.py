"""impls/jax/models.py runs the DCGAN's stride-2 convolutions as matmuls over strided slices (XLA:CPU
runs lhs-dilated convolutions in a naive loop); they must equal lax's convolutions, the reference
forms, for every kernel size and padding the recipes use. JAX runs in its own process."""
import json
import subprocess
import sys

import pytest

from twins_helpers.cases import REPO, make_spec

CHECK = """
import json, sys
import numpy as np
from ganbench.impl_entry import load_member
conv_ops = load_member(sys.argv[1], "models:conv_ops")  # any member of the impl folder's modules
out = {}
for name, spec in json.loads(sys.argv[2]).items():
    ops = conv_ops(spec)
    rng = np.random.default_rng(0)
    k, cin, cout = spec["arch"]["kernel_size"], 3, 5
    x = rng.standard_normal((2, 8, 8, cin)).astype(np.float32)
    conv_k = rng.standard_normal((k, k, cin, cout)).astype(np.float32)     # HWIO
    deconv_k = rng.standard_normal((k, k, cout, cin)).astype(np.float32)   # (kh, kw, out, in)
    fast, ref = np.asarray(ops["conv"](x, conv_k)), np.asarray(ops["lax_conv"](x, conv_k))
    dfast, dref = np.asarray(ops["deconv"](x, deconv_k)), np.asarray(ops["lax_deconv"](x, deconv_k))
    out[name] = [list(fast.shape), list(ref.shape), float(np.abs(fast - ref).max() / np.abs(ref).max()),
                 list(dfast.shape), list(dref.shape), float(np.abs(dfast - dref).max() / np.abs(dref).max())]
print(json.dumps(out))
"""

SPECS = {"k4": dict(arch={"kernel_size": 4}), "k5_same": dict(arch={"kernel_size": 5, "padding": "same"}),
         "k5": dict(arch={"kernel_size": 5})}


@pytest.fixture(scope="module")
def compared():
    specs = {name: make_spec("dcgan", **kw) for name, kw in SPECS.items()}
    proc = subprocess.run([sys.executable, "-c", CHECK, str(REPO / "impls" / "jax"), json.dumps(specs)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_matmul_convolutions_equal_lax_reference(compared, name):
    conv_shape, ref_shape, conv_err, deconv_shape, dref_shape, deconv_err = compared[name]
    assert conv_shape == ref_shape == [2, 4, 4, 5]      # stride 2 halves H and W
    assert deconv_shape == dref_shape == [2, 16, 16, 5]  # stride 2 doubles them
    assert conv_err < 1e-5 and deconv_err < 1e-5, (conv_err, deconv_err)  # relative to the output's scale
